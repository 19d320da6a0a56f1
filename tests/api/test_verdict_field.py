"""The ``verdict`` of each evidence file in the platform API (docs/api.md)."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from evidence import verdicts


def _upload(api, claim, data, capture):
    with capture(execute=True):
        response = api.post(
            f"/api/v1/claims/{claim.pk}/evidence/",
            {"file": [SimpleUploadedFile("1.jpg", data, "image/jpeg")], "submitted_by": "buyer"},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    return response.json()["files"][0]


def test_evidence_list_carries_each_files_verdict(
    api_a, make_claim, shop_a, photo_bytes, django_capture_on_commit_callbacks
):
    claim = make_claim(shop_a)
    uploaded = _upload(api_a, claim, photo_bytes(7), django_capture_on_commit_callbacks)
    assert uploaded["verdict"] is None  # not checked yet when the upload answers

    listed = api_a.get(f"/api/v1/claims/{claim.pk}/evidence/", HTTP_ACCEPT_LANGUAGE="en").json()

    verdict = listed[0]["verdict"]
    assert verdict["code"] in verdicts.PRECEDENCE
    assert verdict["label"] == str(verdicts.LABELS[verdict["code"]])
    assert verdict["statement"] == verdicts.STATEMENTS[verdict["code"]]
    assert all(
        {"code", "verdict", "weight", "message", "msgid"} <= set(r) for r in verdict["reasons"]
    )


def test_verdict_follows_accept_language(
    api_a, make_claim, shop_a, photo_bytes, django_capture_on_commit_callbacks
):
    from evidence.models import EvidenceVerdict

    claim = make_claim(shop_a)
    _upload(api_a, claim, photo_bytes(8), django_capture_on_commit_callbacks)
    EvidenceVerdict.objects.filter(evidence__claim=claim).update(verdict=verdicts.INCONCLUSIVE)

    listed = api_a.get(
        f"/api/v1/claims/{claim.pk}/evidence/", HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).json()

    assert listed[0]["verdict"]["label"] == "无法定论"
    assert listed[0]["verdict"]["statement"].startswith("文件中有需要人工查看的地方")


def test_claim_risk_reasons_name_their_verdict(
    api_a, make_claim, shop_a, photo_bytes, django_capture_on_commit_callbacks
):
    claim = make_claim(shop_a)
    _upload(api_a, claim, photo_bytes(9), django_capture_on_commit_callbacks)

    detail = api_a.get(f"/api/v1/claims/{claim.pk}/").json()

    assert all(r["verdict"] in verdicts.PRECEDENCE for r in detail["risk_reasons"])
