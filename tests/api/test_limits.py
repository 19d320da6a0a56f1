"""The API's size limits answer what docs/api.md promises: 413 ``too_many_pixels`` for a
picture over the pixel budget (even one past Pillow's own 178 MP bomb limit), 413
``request_too_large`` for a body over the limit, and the web forms' limit is the same."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evidence.models import EvidenceFile
from tests.evidence.test_pixel_limits import jpeg_declaring, png_declaring


@pytest.mark.parametrize(("width", "height"), [(10_000, 10_000), (20_000, 20_000)])
@pytest.mark.parametrize("make", [png_declaring, jpeg_declaring])
def test_picture_over_the_pixel_budget_is_413_too_many_pixels(
    api_a, product_a, make, width, height
):
    response = api_a.post(
        f"/api/v1/products/{product_a.pk}/photos/",
        {"file": SimpleUploadedFile("huge.img", make(width, height), "image/png")},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 413
    problem = response.json()
    assert problem["code"] == "too_many_pixels"
    assert f"{width} × {height}" in problem["detail"]
    assert not EvidenceFile.objects.filter(product=product_a).exists()


def test_the_api_refuses_a_multipart_body_over_the_web_forms_limit(api_a, product_a, settings):
    """One number for both (settings.UPLOAD_MAX_REQUEST_BYTES): lowering it lowers the
    API's multipart limit too, refused from the Content-Length before anything is read."""
    from tests.api.conftest import png_bytes

    settings.UPLOAD_MAX_REQUEST_BYTES = 10_000
    response = api_a.post(
        f"/api/v1/products/{product_a.pk}/photos/",
        {"file": SimpleUploadedFile("big.png", png_bytes() + bytes(20_000), "image/png")},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert not EvidenceFile.objects.filter(product=product_a).exists()
