"""Token authentication per platform client; revocation; the management command."""

from __future__ import annotations

import re

from django.core.management import call_command
from django.utils import timezone


def test_no_token_is_401_problem_with_challenge(anonymous):
    response = anonymous.get("/api/v1/claims/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["status"] == 401


def test_unknown_token_is_401(anonymous, client_a):
    anonymous.credentials(HTTP_AUTHORIZATION="Token cl_not-a-real-token")
    assert anonymous.get("/api/v1/claims/").status_code == 401


def test_malformed_header_is_401(anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Token a b")
    assert anonymous.get("/api/v1/claims/").status_code == 401


def test_revoked_client_is_401(api_a, client_a):
    assert api_a.get("/api/v1/claims/").status_code == 200
    type(client_a).objects.filter(pk=client_a.pk).update(is_active=False, revoked_at=timezone.now())
    response = api_a.get("/api/v1/claims/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_token_is_stored_only_as_hash(client_a):
    assert client_a.token not in (client_a.token_hash, client_a.token_prefix)
    assert client_a.token.startswith(client_a.token_prefix)


def _token(output: str) -> str:
    return re.search(r"token: (\S+)", output).group(1)


def test_create_platform_client_command_binds_merchants(shop_a, capsys):
    from rest_framework.test import APIClient

    call_command("create_platform_client", "erp", "--merchant", shop_a.platform_id)
    token = _token(capsys.readouterr().out)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    merchants = api.get("/api/v1/merchants/").json()["results"]
    assert [m["id"] for m in merchants] == [shop_a.pk]
    assert (
        api.post("/api/v1/merchants/", {"platform_id": "n", "name": "n"}, format="json").status_code
        == 403
    )


def test_create_platform_client_command_without_merchant_may_create(db, capsys):
    from rest_framework.test import APIClient

    call_command("create_platform_client", "marketplace")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {_token(capsys.readouterr().out)}")
    response = api.post("/api/v1/merchants/", {"platform_id": "n1", "name": "N"}, format="json")
    assert response.status_code == 201


def test_create_platform_client_command_rejects_unknown_merchant(db):
    import pytest
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        call_command("create_platform_client", "x", "--merchant", "nope")
