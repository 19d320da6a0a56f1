"""The evidence pack: what the ZIP holds, that its hashes hold, and what it never holds
(originals, GPS, the buyer's phone and address, other shops' claims, reviewers' names
for merchants); the export is recorded in the audit chain."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from decimal import Decimal

import pytest
from django.utils import translation
from PIL import Image

from refunds import services
from refunds.audit import Actor, verify_chain
from refunds.evidence_pack import evidence_pack_build, pack_audience
from refunds.exceptions import NotAllowed
from refunds.models import AuditEvent

BUYER_PHONE = "13800000000"  # tests/conftest.py's buyer
BUYER_ADDRESS = "上海市浦东新区 XX 路 1 号"
GPS_IFD = 0x8825
COPY_MESSAGE = "This photo is a copy of your listing photo"


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """The pack reads stored files: keep them in a temporary directory."""


def _with_gps(jpeg: bytes) -> bytes:
    """The JPEG re-saved with a GPS position in its EXIF, as a phone writes it."""
    image = Image.open(io.BytesIO(jpeg))
    exif = image.getexif()
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (31.0, 13.0, 42.5), 3: "E", 4: (121.0, 28.0, 11.25)})
    exif[GPS_IFD] = gps
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


@pytest.fixture
def forged_claim(shop_a, listing_product, make_order, django_capture_on_commit_callbacks):
    """Shop A's claim whose buyer photo is its listing photo with a crack painted on,
    sent from a phone that wrote camera data and a GPS position into the file."""
    from evidence.services import evidence_add
    from refunds.services import claim_submit
    from testing import synthetic

    forged = synthetic.paint_damage(synthetic.render_product_photo(101), 707)
    upload = _with_gps(
        synthetic.encode_jpeg(forged.image, quality=85, exif=True, make="Xiaomi", model="K70")
    )
    order = make_order(shop_a, product=listing_product, total=Decimal("199.00"))
    with django_capture_on_commit_callbacks(execute=True):
        claim = claim_submit(
            order=order,
            amount=Decimal("199.00"),
            reason="damaged",
            description="杯子到货有裂痕 Arrived cracked",
            platform_id="CLM-2025-0042",
            actor=Actor.platform("test"),
        )
        evidence_add(
            upload=upload,
            submitted_by="buyer",
            original_name="IMG_damage.jpg",
            claim=claim,
            actor=Actor.platform("test"),
        )
    claim.refresh_from_db()
    return claim


def _open(data: bytes) -> tuple[zipfile.ZipFile, dict]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return archive, json.loads(archive.read("manifest.json"))


def _pdf_text(archive: zipfile.ZipFile) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(archive.read("report.pdf")))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def _build(claim, user, language="en") -> bytes:
    with translation.override(language):
        return evidence_pack_build(claim=claim, user=user)


# --- contents and hashes -----------------------------------------------------------------


def test_every_file_in_the_pack_is_in_the_manifest_with_its_hash(alice, forged_claim):
    archive, manifest = _open(_build(forged_claim, alice))

    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(archive.namelist()) == {*listed, "manifest.json"}
    for path, entry in listed.items():
        data = archive.read(path)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], path
        assert len(data) == entry["size"], path
    assert archive.read("report.pdf").startswith(b"%PDF-")
    assert any(p.startswith("evidence/buyer-") for p in listed)
    assert any(p.startswith("evidence/listing-") for p in listed)
    artifacts = {re.sub(r"-\d+-", "-N-", p) for p in listed if p.startswith("findings/")}
    assert {"findings/finding-N-overlay.png", "findings/finding-N-side_by_side.png"} <= artifacts


def test_manifest_names_each_photo_by_its_originals_hash(alice, forged_claim):
    buyer_file = forged_claim.evidence_files.get(submitted_by="buyer")
    original = buyer_file.original.open("rb").read()

    archive, manifest = _open(_build(forged_claim, alice))

    entry = next(e for e in manifest["evidence"] if e["evidence_id"] == buyer_file.pk)
    assert entry["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert entry["original_size"] == len(original)
    assert archive.read(entry["display_copy"]) == buyer_file.display.open("rb").read()


def test_pack_holds_display_copies_without_gps_never_the_original(alice, forged_claim):
    buyer_file = forged_claim.evidence_files.get(submitted_by="buyer")
    original = buyer_file.original.open("rb").read()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the phone's GPS

    archive, _manifest = _open(_build(forged_claim, alice))

    photos = [name for name in archive.namelist() if name.startswith("evidence/")]
    assert photos
    for name in photos:
        data = archive.read(name)
        assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD) == {}, name
        assert b"Exif" not in data and b"Xiaomi" not in data, name
    assert all(archive.read(name) != original for name in archive.namelist())


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_pack_holds_no_buyer_phone_address_or_file_name(request, forged_claim, who):
    user = request.getfixturevalue(who)

    archive, _manifest = _open(_build(forged_claim, user))

    pdf_text = _pdf_text(archive)
    for name in archive.namelist():
        data = archive.read(name)
        for secret in (BUYER_PHONE, BUYER_ADDRESS, "IMG_damage.jpg"):
            assert secret.encode() not in data, (name, secret)
    for secret in (BUYER_PHONE, BUYER_ADDRESS, "IMG_damage.jpg"):
        assert secret not in pdf_text
    assert "张三" in pdf_text  # the display name is what the pack names the buyer by


def test_merchant_pack_hides_buyer_platform_id_and_finding_details(alice, forged_claim):
    archive, manifest = _open(_build(forged_claim, alice))

    assert manifest["audience"] == "merchant"
    assert manifest["claim"]["buyer"] == {"display_name": "张三"}
    assert b"buyer-1" not in archive.read("manifest.json")
    assert "buyer-1" not in _pdf_text(archive)
    assert manifest["findings"]
    assert all("details" not in finding for finding in manifest["findings"])


def test_reviewer_pack_has_finding_details_and_the_buyers_platform_id(charlie, forged_claim):
    _archive, manifest = _open(_build(forged_claim, charlie))

    assert manifest["audience"] == "reviewer"
    assert manifest["claim"]["buyer"]["platform_id"] == "buyer-1"
    assert all("details" in finding for finding in manifest["findings"])


# --- the report --------------------------------------------------------------------------


def test_english_report_names_the_claim_and_explains_the_findings(alice, forged_claim):
    archive, manifest = _open(_build(forged_claim, alice, "en"))

    text = _pdf_text(archive)
    assert "CLM-2025-0042" in text
    assert COPY_MESSAGE in text
    assert forged_claim.evidence_files.get(submitted_by="buyer").sha256 in text
    assert "How to verify this pack" in text
    assert manifest["report_language"] == "en"


def test_findings_come_strongest_first_with_english_messages(alice, forged_claim):
    with translation.override("zh-hans"):
        _archive, manifest = _open(evidence_pack_build(claim=forged_claim, user=alice))

    weights = [finding["weight"] for finding in manifest["findings"]]
    assert weights == sorted(weights, reverse=True)
    assert manifest["findings"][0]["weight"] > 0
    assert any(f["message"].startswith(COPY_MESSAGE) for f in manifest["findings"])
    assert manifest["claim"]["risk_score"] == forged_claim.risk_score


def test_chinese_report_is_written_in_chinese(alice, forged_claim):
    archive, manifest = _open(_build(forged_claim, alice, "zh-hans"))

    text = "".join(_pdf_text(archive).split())
    assert manifest["report_language"] == "zh-hans"
    assert "证据包" in text
    assert "如何核验" in text
    assert "CLM-2025-0042" in text


def test_decision_and_timeline_name_no_reviewer_for_the_merchant(
    alice, charlie, forged_claim, contest_and_decide
):
    contest_and_decide(forged_claim, alice, charlie)

    merchant_archive, merchant = _open(_build(forged_claim, alice))
    _reviewer_archive, reviewer = _open(_build(forged_claim, charlie))

    assert merchant["decisions"][0]["rationale"].startswith("The buyer's photo is our")
    assert "reviewer" not in merchant["decisions"][0]
    assert b"charlie" not in merchant_archive.read("manifest.json")
    assert "charlie" not in _pdf_text(merchant_archive)
    assert "painted crack" in _pdf_text(merchant_archive)
    by = {line["action"]: line["by"] for line in merchant["timeline"]}
    assert by["decided"] == "Platform reviewer"
    assert by["merchant_contest"] == "Shop A 家居"
    assert reviewer["decisions"][0]["reviewer"] == "charlie"
    assert [line["seq"] for line in reviewer["timeline"]] == sorted(
        line["seq"] for line in reviewer["timeline"]
    )


# --- buyer credit ------------------------------------------------------------------------


@pytest.fixture
def forged_elsewhere(bob, charlie, shop_b, make_claim, contest_and_decide):
    """The same buyer's 3,500 CNY claim against shop B, decided as forged."""
    claim = make_claim(shop_b, amount=Decimal("3500.00"), total=Decimal("3500.00"))
    contest_and_decide(claim, bob, charlie)
    return claim


def test_merchant_pack_flags_the_fraud_tier_but_not_other_shops_claims(
    alice, forged_claim, forged_elsewhere
):
    archive, manifest = _open(_build(forged_claim, alice))

    credit = manifest["buyer_credit"]
    assert credit["fraud_tier_crossed"]["name"] == "relatively_large"
    assert "数额较大" in credit["fraud_tier_crossed"]["label"]
    assert [c["id"] for c in credit["claims_against_this_shop"]] == [forged_claim.pk]
    assert "platform_wide" not in credit
    text = _pdf_text(archive)
    for document in (archive.read("manifest.json").decode(), text):
        assert forged_elsewhere.order.platform_id not in document
        assert "3500" not in document  # not the amount, only the tier it reaches
    assert "Fraud threshold crossed" in text
    assert "数额较大" in text


def test_reviewer_pack_has_the_full_credit_summary(charlie, forged_claim, forged_elsewhere):
    archive, manifest = _open(_build(forged_claim, charlie))

    wide = manifest["buyer_credit"]["platform_wide"]
    assert wide["confirmed_forgeries"] == 1
    assert wide["amount_in_forged_claims"] == "3500.00"
    assert wide["claims"] == 2
    assert "¥3500.00" in _pdf_text(archive)


def test_no_tier_is_flagged_below_3000(alice, forged_claim):
    archive, manifest = _open(_build(forged_claim, alice))

    assert manifest["buyer_credit"]["fraud_tier_crossed"] is None
    assert "No fraud tier crossed" in _pdf_text(archive)


# --- access and audit --------------------------------------------------------------------


def test_only_the_claims_shop_and_reviewers_get_a_pack(alice, bob, charlie, forged_claim):
    assert pack_audience(claim=forged_claim, user=alice) == "merchant"
    assert pack_audience(claim=forged_claim, user=charlie) == "reviewer"
    with pytest.raises(NotAllowed):
        evidence_pack_build(claim=forged_claim, user=bob)
    with pytest.raises(NotAllowed):
        services.evidence_pack_export(claim=forged_claim, user=bob)
    assert not AuditEvent.objects.filter(action="evidence_pack_exported").exists()


def test_export_is_recorded_in_the_audit_chain_with_the_zips_hash(alice, forged_claim):
    before = AuditEvent.objects.filter(claim=forged_claim).order_by("-seq").first()

    data = services.evidence_pack_export(claim=forged_claim, user=alice)

    event = AuditEvent.objects.filter(claim=forged_claim).order_by("-seq").first()
    assert event.action == "evidence_pack_exported"
    assert event.actor == alice
    assert event.from_status == event.to_status == ""
    assert event.data == {
        "audience": "merchant",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    _archive, manifest = _open(data)
    # The pack quotes the chain head it was built on: the event before its own export.
    assert manifest["audit"]["claim_chain_head"]["hash"] == before.hash
    assert manifest["audit"]["claim_chain_head"]["seq"] == before.seq
    assert verify_chain() == (AuditEvent.objects.count(), None)


def test_a_later_pack_shows_the_earlier_export_as_the_shops(alice, forged_claim):
    services.evidence_pack_export(claim=forged_claim, user=alice)

    _archive, manifest = _open(_build(forged_claim, alice))

    exported = [line for line in manifest["timeline"] if line["action"] == "evidence_pack_exported"]
    assert len(exported) == 1
    assert exported[0]["by"] == "Shop A 家居"
    assert exported[0]["description"] == "An evidence pack of the claim was exported"


def test_a_claim_without_evidence_still_makes_a_complete_pack(alice, shop_a, make_claim):
    claim = make_claim(shop_a)

    archive, manifest = _open(_build(claim, alice))

    assert set(archive.namelist()) == {"report.pdf", "manifest.json"}
    assert manifest["evidence"] == [] and manifest["findings"] == []
    assert [line["action"] for line in manifest["timeline"]][0] == "claim_submitted"
    assert "No findings." in _pdf_text(archive)


# --- chain of custody --------------------------------------------------------------------


@pytest.fixture
def handled_claim(client, alice, charlie, forged_claim):
    """The forged claim after charlie downloaded the buyer's original and alice
    exported a pack."""
    from django.urls import reverse

    buyer_file = forged_claim.evidence_files.get(submitted_by="buyer")
    client.force_login(charlie)
    assert client.get(reverse("evidence:original", args=[buyer_file.uuid])).status_code == 200
    services.evidence_pack_export(claim=forged_claim, user=alice)
    return forged_claim


def test_the_pack_lists_the_chain_of_custody_of_its_files(charlie, handled_claim):
    buyer_file = handled_claim.evidence_files.get(submitted_by="buyer")
    listing = handled_claim.order.items.get().product.photos.get()

    archive, manifest = _open(_build(handled_claim, charlie))

    custody = manifest["chain_of_custody"]
    assert [line["seq"] for line in custody] == sorted(line["seq"] for line in custody)
    by_action = {(line["action"], line["evidence_id"]): line for line in custody}
    upload = by_action[("evidence_uploaded", buyer_file.pk)]
    assert upload["sha256"] == buyer_file.sha256
    assert upload["evidence_file"] == f"evidence/buyer-{buyer_file.pk}.jpg"
    assert upload["description"] == "File uploaded"
    assert upload["actor"] == "platform:test"
    assert by_action[("evidence_uploaded", listing.pk)]["sha256"] == listing.sha256
    download = by_action[("evidence_original_exported", buyer_file.pk)]
    assert download["by"] == "charlie" and download["data"]["matches_upload"] is True
    export = by_action[("evidence_pack_exported", None)]
    assert export["by"] == "alice" and export["data"]["audience"] == "merchant"
    event = AuditEvent.objects.get(seq=download["seq"])
    assert download["hash"] == event.hash
    text = _pdf_text(archive)
    assert "Chain of custody" in text
    assert "The original file was downloaded" in text


def test_a_merchants_chain_of_custody_names_roles_not_reviewers(alice, handled_claim):
    buyer_file = handled_claim.evidence_files.get(submitted_by="buyer")

    archive, manifest = _open(_build(handled_claim, alice))

    custody = manifest["chain_of_custody"]
    by = {(line["action"], line["evidence_id"]): line["by"] for line in custody}
    assert by[("evidence_original_exported", buyer_file.pk)] == "Platform reviewer"
    assert by[("evidence_uploaded", buyer_file.pk)] == "The buyer"
    assert by[("evidence_pack_exported", None)] == "Shop A 家居"
    assert all("actor" not in line and "hash" not in line for line in custody)
    upload = next(line for line in custody if line["action"] == "evidence_uploaded")
    assert set(upload) >= {"sha256", "size", "content_type"}
    assert b"charlie" not in archive.read("manifest.json")
    text = _pdf_text(archive)
    assert "charlie" not in text
    assert "Chain of custody" in text and buyer_file.sha256 in text


def test_the_chain_of_custody_is_written_in_chinese_for_a_chinese_reader(alice, handled_claim):
    archive, manifest = _open(_build(handled_claim, alice, "zh-hans"))

    text = "".join(_pdf_text(archive).split())
    assert "保管链" in text
    assert manifest["chain_of_custody"][0]["description"] == "File uploaded"  # English JSON


# --- the photos' verdicts (docs/verdicts.md) ------------------------------------------


def test_manifest_and_report_carry_the_buyer_photos_verdict(alice, forged_claim):
    archive, manifest = _open(_build(forged_claim, alice))

    by_role = {e["role"]: e for e in manifest["evidence"]}
    verdict = by_role["buyer"]["verdict"]
    assert verdict["code"] == "edited_copy"
    assert verdict["label"] == "Edited copy of your photo"
    assert verdict["reasons"][:2] == ["reference_altered_region", "reference_copy"]
    assert "reference_match" in verdict["check_versions"]
    assert by_role["listing"]["verdict"] is None  # references are not judged
    assert "Edited copy of your photo" in _pdf_text(archive)


def test_chinese_report_names_the_verdict_in_chinese(alice, forged_claim):
    archive, _manifest = _open(_build(forged_claim, alice, "zh-hans"))

    assert "您的图片的修改副本" in _pdf_text(archive)
