"""A ``.json`` suffix on an API route: the API has one format, so the suffix routes are
not registered and every such path is a plain 404 problem document, never a 500."""

from __future__ import annotations

import pytest
from django.urls import get_resolver


def api_routes() -> list[str]:
    """Every route in the API's URL conf as a ``%(pk)s`` template; the suffix routes (the
    ones with a ``format`` parameter) are what is tested, so they are left out."""
    _prefix, api = get_resolver().namespace_dict["api"]
    routes = set()
    for name in list(api.reverse_dict):
        if not isinstance(name, str):
            continue
        for possibilities, _pattern, _defaults, _converters in api.reverse_dict.getlist(name):
            for template, params in possibilities:
                if "format" not in params:
                    routes.add("/api/" + template)
    return sorted(routes)


@pytest.fixture
def existing(shop_a, product_a, make_claim):
    """Client A's own objects, so that a route reaches its handler rather than a 404."""
    claim = make_claim(shop_a)
    return {
        "merchants": shop_a.pk,
        "products": product_a.pk,
        "orders": claim.order_id,
        "claims": claim.pk,
        "webhook-endpoints": 999_999,
    }


def _fill(route: str, existing: dict) -> str:
    resource = route.removeprefix("/api/v1/").split("/")[0]
    return route % {"pk": existing.get(resource, 1), "token": "not-a-token"}


def test_the_route_list_covers_the_api():
    routes = api_routes()

    assert "/api/v1/claims/" in routes
    assert "/api/v1/claims/%(pk)s/findings/" in routes
    assert "/api/v1/artifacts/%(token)s/" in routes
    assert len(routes) >= 15


@pytest.mark.parametrize("route", api_routes())
@pytest.mark.parametrize("ending", [".json", ".json/"])
def test_json_suffix_is_a_404_problem_not_a_500(api_a, existing, route, ending):
    suffixed = _fill(route, existing).rstrip("/") + ending

    response = api_a.get(suffixed, follow=True)

    assert response.status_code == 404, (suffixed, response.status_code)
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/claims.json", "/api/v1/orders.json"])
def test_json_suffix_on_a_post_is_a_404_problem(api_a, path):
    response = api_a.post(path, {}, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
