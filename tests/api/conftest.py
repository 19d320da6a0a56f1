"""API personas: platform client A acts for shop A, client B for shop B; the "platform"
client may create merchants. Each has an authenticated DRF test client."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient


def _api(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


@pytest.fixture(autouse=True)
def _no_throttle_state():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def client_a(shop_a):
    from merchants.services import platform_client_create

    client, token = platform_client_create(name="platform-a", merchants=[shop_a])
    client.token = token
    return client


@pytest.fixture
def client_b(shop_b):
    from merchants.services import platform_client_create

    client, token = platform_client_create(name="platform-b", merchants=[shop_b])
    client.token = token
    return client


@pytest.fixture
def creator(db):
    from merchants.services import platform_client_create

    client, token = platform_client_create(name="platform-root", can_create_merchants=True)
    client.token = token
    return client


@pytest.fixture
def api_a(client_a) -> APIClient:
    return _api(client_a.token)


@pytest.fixture
def api_b(client_b) -> APIClient:
    return _api(client_b.token)


@pytest.fixture
def api_creator(creator) -> APIClient:
    return _api(creator.token)


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def product_a(shop_a):
    from merchants.services import product_create

    return product_create(merchant=shop_a, platform_id="mug-a", title="陶瓷杯 Ceramic mug")


@pytest.fixture
def product_b(shop_b):
    from merchants.services import product_create

    return product_create(merchant=shop_b, platform_id="phone-b", title="Phone case")


def png_bytes(color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def finding_with_artifact():
    """A finding with one artifact image on ``claim`` (what a check would have saved)."""
    from evidence.models import CheckRun, EvidenceFile, Finding, FindingArtifact

    def _make(claim, photo: bytes):
        evidence = EvidenceFile(
            attached_to="claim",
            claim=claim,
            submitted_by="buyer",
            sha256="0" * 64,
            content_type="image/jpeg",
            size=len(photo),
            status="checked",
        )
        evidence.original.save("original", ContentFile(photo), save=False)
        evidence.save()
        run = CheckRun.objects.create(
            evidence=evidence,
            check_name="integrity",
            check_version=1,
            status="done",
            started_at=timezone.now(),
        )
        finding = Finding.objects.create(
            check_run=run,
            evidence=evidence,
            claim=claim,
            code="metadata_editor_software",
            severity="medium",
            weight=20,
            message="Image edited with %(software)s.",
            params={"software": "Photoshop"},
        )
        artifact = FindingArtifact(finding=finding, name="ela", caption="Error level analysis")
        artifact.image.save("ela.png", ContentFile(png_bytes()), save=False)
        artifact.save()
        return finding, artifact

    return _make
