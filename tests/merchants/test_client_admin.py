"""API clients in the admin are written through ``merchants.services``: creating one shows
its token once, editing keeps its platform and token, revoking and issuing a new token
are actions, and the API honours each at the next request. Before, the form offered an
"active" box whose unticking broke the "an inactive client has a revocation time" rule
(a server error), and the admin wrote clients around the services."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from merchants.models import PlatformClient
from merchants.services import platform_client_create
from tests.platforms import platform_world

pytestmark = pytest.mark.django_db

TOKEN = "shown once, store it now): "


def _api_status(token: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api.get("/api/v1/claims/").status_code


def _tokens(response) -> list[str]:
    return [
        str(m).split(TOKEN, 1)[1] for m in get_messages(response.wsgi_request) if TOKEN in str(m)
    ]


@pytest.fixture(autouse=True)
def _english(admin_client):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def erp(shop_a):
    client, token = platform_client_create(name="erp", merchants=[shop_a])
    client.token = token
    return client


def test_a_client_added_in_the_admin_gets_a_working_token_shown_once(admin_client, shop_a):
    response = admin_client.post(
        reverse("admin:merchants_platformclient_add"),
        {"tenant": shop_a.tenant_id, "name": "erp-2", "merchants": [shop_a.pk]},
        follow=True,
    )

    client = PlatformClient.objects.get(name="erp-2")
    (token,) = _tokens(response)
    assert list(client.merchants.all()) == [shop_a]
    assert token.startswith(client.token_prefix) and token not in client.token_hash
    assert _api_status(token) == 200


def test_editing_a_client_keeps_its_token_and_platform(admin_client, erp, shop_a, shop_b):
    url = reverse("admin:merchants_platformclient_change", args=[erp.pk])
    form = admin_client.get(url).context["adminform"].form
    assert "is_active" not in form.fields and "tenant" not in form.fields

    response = admin_client.post(
        url, {"name": "erp renamed", "merchants": [shop_a.pk, shop_b.pk], "tenant": "999"}
    )

    assert response.status_code == 302, response.content
    erp.refresh_from_db()
    assert erp.name == "erp renamed" and set(erp.merchants.all()) == {shop_a, shop_b}
    assert erp.is_active and _api_status(erp.token) == 200


def test_a_client_is_not_bound_to_another_platforms_shop_on_edit(
    admin_client, erp, django_user_model
):
    other = platform_world("market-x", django_user_model=django_user_model)
    url = reverse("admin:merchants_platformclient_change", args=[erp.pk])

    response = admin_client.post(url, {"name": "erp", "merchants": [other.shop.pk]})

    assert response.status_code == 200  # the form again, with the error
    assert "A client acts only for shops of its own platform." in response.content.decode()
    assert not erp.merchants.filter(pk=other.shop.pk).exists()


def test_revoking_in_the_admin_locks_the_token_out_and_a_new_token_lets_it_back(admin_client, erp):
    changelist = reverse("admin:merchants_platformclient_changelist")
    assert _api_status(erp.token) == 200

    admin_client.post(changelist, {"action": "revoke", "_selected_action": [erp.pk]})

    erp.refresh_from_db()
    assert not erp.is_active and erp.revoked_at is not None
    assert _api_status(erp.token) == 401

    response = admin_client.post(
        changelist, {"action": "rotate_token", "_selected_action": [erp.pk]}, follow=True
    )

    (token,) = _tokens(response)
    erp.refresh_from_db()
    assert erp.is_active and erp.revoked_at is None
    assert _api_status(token) == 200
    assert _api_status(erp.token) == 401  # the revoked token never comes back
