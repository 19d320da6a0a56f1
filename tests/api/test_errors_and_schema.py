"""Problem documents everywhere under /api/, throttling, and the served schema and docs."""

from __future__ import annotations

import pytest


def test_unknown_api_path_is_json_404(anonymous):
    response = anonymous.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_non_numeric_id_is_json_404(api_a):
    response = api_a.get("/api/v1/claims/abc/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_malformed_json_is_400_problem(api_a):
    response = api_a.post("/api/v1/claims/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_wrong_content_type_is_415(api_a):
    response = api_a.post("/api/v1/claims/", data="a=b", content_type="text/plain")
    assert response.status_code == 415


def test_html_is_never_returned(api_a):
    response = api_a.get("/api/v1/claims/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_method_not_allowed_is_problem(api_a):
    response = api_a.delete("/api/v1/claims/")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"


def test_rate_limit_is_429_with_retry_after(api_a, monkeypatch):
    from api.throttling import PlatformClientRateThrottle

    monkeypatch.setattr(PlatformClientRateThrottle, "THROTTLE_RATES", {"platform_client": "2/min"})
    statuses = [api_a.get("/api/v1/claims/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    response = api_a.get("/api/v1/claims/")
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"


def test_rate_limit_is_per_client(api_a, api_b, monkeypatch):
    from api.throttling import PlatformClientRateThrottle

    monkeypatch.setattr(PlatformClientRateThrottle, "THROTTLE_RATES", {"platform_client": "1/min"})
    assert api_a.get("/api/v1/claims/").status_code == 200
    assert api_a.get("/api/v1/claims/").status_code == 429
    assert api_b.get("/api/v1/claims/").status_code == 200


@pytest.mark.parametrize(
    "exc,status,code",
    [
        ("IllegalTransition", 409, "illegal_transition"),
        ("NotAllowed", 403, "not_allowed"),
        ("ClaimValidationError", 400, "invalid"),
    ],
)
def test_domain_exceptions_map_to_statuses(exc, status, code):
    from api.exceptions import problem_exception_handler
    from refunds import exceptions

    response = problem_exception_handler(getattr(exceptions, exc)("why"), {})
    assert response.status_code == status
    assert response.data["code"] == code
    assert response.data["detail"] == "why"


def test_schema_is_served_and_documents_problems(anonymous):
    response = anonymous.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    claim_post = schema["paths"]["/api/v1/claims/"]["post"]
    assert "application/problem+json" in claim_post["responses"]["409"]["content"]
    assert any(p["name"] == "Idempotency-Key" for p in claim_post["parameters"])
    assert "platformToken" in schema["components"]["securitySchemes"]


def test_swagger_ui_uses_local_assets(anonymous):
    response = anonymous.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn." not in html and "unpkg" not in html


@pytest.mark.parametrize(
    "params",
    [
        {"page": ""},
        {"page": "x"},
        {"page_size": "0"},
        {"page_size": ""},
        {"statuss": "decided"},
        {"updated_since": ""},
        {"merchant": "0.5"},
    ],
)
def test_malformed_list_parameters_are_400(api_a, params):
    response = api_a.get("/api/v1/claims/", params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == next(iter(params))


def test_page_past_the_end_is_404(api_a):
    assert api_a.get("/api/v1/orders/", {"page": "9"}).status_code == 404
    assert api_a.get("/api/v1/claims/", {"cursor": "garbage"}).status_code == 404
