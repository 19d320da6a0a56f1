"""``Authorization: Token <token>`` for platform clients.

Only the SHA-256 of a token is stored. Looking the client up *by that hash* (a unique
index) compares no secret bytes in Python, so there is nothing to time; a revoked
client (``is_active`` false) is refused like an unknown token.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from merchants.models import PlatformClient
from merchants.services import hash_token


@dataclass(frozen=True)
class PlatformPrincipal:
    """``request.user`` for API calls: the client, never a Django user."""

    client: PlatformClient

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    @property
    def pk(self) -> int:
        return self.client.pk

    def get_username(self) -> str:
        return f"platform:{self.client.name}"

    def __str__(self) -> str:
        return self.client.name


class PlatformTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Invalid Authorization header: use “Token <token>”.")
            )
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        client = PlatformClient.objects.filter(token_hash=hash_token(token)).first()
        if client is None or not client.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        return PlatformPrincipal(client=client), client

    def authenticate_header(self, request) -> str:
        return self.keyword


class PlatformTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.PlatformTokenAuthentication"
    name = "platformToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>` as printed once by `manage.py create_platform_client`.",
        }
