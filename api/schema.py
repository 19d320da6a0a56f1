"""OpenAPI generation: every operation documents its problem responses and headers."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from api.exceptions import PROBLEM_CONTENT_TYPE

PROBLEM_DESCRIPTIONS = {
    "400": "Invalid input (validation_error, invalid, idempotency_key_invalid).",
    "401": "Missing, invalid or revoked token.",
    "403": "The client may not do this (permission_denied, not_allowed).",
    "404": "No such object among this client's merchants.",
    "409": "Conflict: already_exists, illegal_transition, duplicate_file, claim_closed, "
    "idempotency_key_reused, idempotency_in_progress.",
    "413": "Upload or body too large (file_too_large, too_many_pixels, request_too_large).",
    "415": "Unsupported media type (of the request, or an uploaded file's bytes).",
    "429": "Rate limit reached; see Retry-After.",
}
WRITE_ONLY = ("409", "413", "415")
EXAMPLE_PROBLEM = {
    "type": "urn:claimlens:problem:validation_error",
    "title": "Bad request",
    "status": 400,
    "detail": "The request has invalid fields; see “errors”.",
    "code": "validation_error",
    "instance": "/api/v1/claims/",
    "errors": [{"field": "amount", "message": "This field is required.", "code": "required"}],
}


class ProblemAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        from api.serializers import ProblemSerializer

        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "404", "429"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += list(WRITE_ONLY)
        if getattr(self.view, "schema_public", False):
            codes = ["404", "429"]
        for code in codes:
            if code in responses:
                continue
            examples = (
                [OpenApiExample("validation error", value=EXAMPLE_PROBLEM, status_codes=["400"])]
                if code == "400"
                else []
            )
            responses[code] = self._get_response_for_code(
                OpenApiResponse(
                    ProblemSerializer, description=PROBLEM_DESCRIPTIONS[code], examples=examples
                ),
                code,
                media_types=[PROBLEM_CONTENT_TYPE],
                direction=direction,
            )
            if code == "429":
                responses[code]["headers"] = {
                    "Retry-After": {
                        "schema": {"type": "integer"},
                        "description": "Seconds to wait before the next request.",
                    }
                }
        return responses
