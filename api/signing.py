"""Time-limited, client-bound URLs for finding artifacts.

The URL carries ``artifact id : client id`` signed with a TimestampSigner (salted, so a
signature made elsewhere in the project is worthless here). Opening it re-checks that
the client is still active and still bound to the claim's shop.
"""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

SALT = "claimlens.api.artifact"
MAX_AGE_SECONDS = 600


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def artifact_token(*, artifact_id: int, client_id: int) -> str:
    return _signer().sign(f"{artifact_id}:{client_id}")


def artifact_url(request, *, artifact_id: int, client_id: int) -> str:
    path = reverse(
        "api:artifact",
        kwargs={"token": artifact_token(artifact_id=artifact_id, client_id=client_id)},
    )
    return request.build_absolute_uri(path) if request is not None else path


def read_artifact_token(token: str) -> tuple[int, int] | None:
    """(artifact id, client id), or None when the token is forged, malformed or expired."""
    try:
        value = _signer().unsign(token, max_age=MAX_AGE_SECONDS)
        artifact_id, client_id = (int(part) for part in value.split(":"))
    except (signing.BadSignature, ValueError):
        return None
    return artifact_id, client_id
