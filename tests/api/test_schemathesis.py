"""Property-based run of the live OpenAPI schema (schemathesis, every default check),
authenticated as two different platform clients, each with some data of its own."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from config.wsgi import application  # noqa: E402 - pytest-django has set Django up
from tests.api.test_endpoints import order_body

# Every default check runs. One is tuned: a request can match the schema and still be
# refused by a business rule only the server can judge (an order id that is not among
# this client's, an amount above the order total, a delivery before the shipment), so
# `positive_data_acceptance` also accepts a 400 problem document; everything else —
# server errors, undocumented statuses, content types, response schemas, headers,
# accepted invalid data, authentication — is checked as schemathesis ships it.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": [
                    "2xx",
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "413",
                    "415",
                    "429",
                ],
            },
        },
    }
)

# Generating the schema touches no database, so it is loaded once, at collection.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)


@pytest.fixture
def tokens(client_a, client_b, api_a, api_b, shop_a, shop_b, product_a, make_claim):
    """Both clients hold data, so generated ids sometimes hit real (and foreign) rows."""
    make_claim(shop_a)
    make_claim(shop_b)
    api_a.post("/api/v1/orders/", order_body(shop_a.pk, platform_id="o-st"), format="json")
    api_a.post("/api/v1/webhook-endpoints/", {"url": "https://a.example/h"}, format="json")
    # Requests through the bare WSGI app would close the test's DB connection when they
    # end; Django's test client (used above) avoids that the same way, per request.
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield {"a": client_a.token, "b": client_b.token}
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


STATUSES: list[int] = []


def call(case, token: str) -> None:
    """Send the case as this client. Where schemathesis left the Authorization header out
    on purpose (a negative case), it stays out and the API must answer 401."""
    headers = dict(case.headers or {})
    if "Authorization" in headers:
        case.headers = {**headers, "Authorization": f"Token {token}"}
    response = case.call_and_validate()
    STATUSES.append(response.status_code)


SETTINGS = settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.mark.django_db
@schema.parametrize()
@SETTINGS
def test_api_conforms_to_its_schema_as_client_a(case, tokens):
    call(case, tokens["a"])


@pytest.mark.django_db
@schema.parametrize()
@SETTINGS
def test_api_conforms_to_its_schema_as_client_b(case, tokens):
    call(case, tokens["b"])
