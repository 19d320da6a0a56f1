"""The verdict per file: the table, its precedence, the pipeline storing it per check
version, the backfill of files checked before verdicts existed, and the claim's score
built from verdicts."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps

from evidence import verdicts
from evidence.checks.registry import check_by_name, default_weights
from evidence.verdicts import FindingRow, decide
from testing import synthetic

backfill_migration = importlib.import_module(
    "evidence.migrations.0007_detverdict_backfill_verdicts"
)


def row(code, weight=None, severity="high", **kw):
    default = default_weights().get(code, (10, ""))[0]
    return FindingRow(
        code=code, weight=default if weight is None else weight, severity=severity, **kw
    )


def test_every_code_a_check_can_emit_has_a_place_in_the_table():
    missing = set(default_weights()) - set(verdicts.CODE_VERDICTS)
    assert missing == set()


def test_every_verdict_has_a_label_and_a_can_and_cannot_statement():
    assert set(verdicts.LABELS) == set(verdicts.PRECEDENCE) == set(verdicts.STATEMENTS)
    for statement in verdicts.STATEMENTS.values():
        assert ";" in statement or "," in statement  # what it proves; what it does not


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["reference_altered_region", "reference_copy"], verdicts.EDITED_COPY),
        (["reference_copy"], verdicts.COPY),
        (["reference_screen_recapture", "reference_copy"], verdicts.SCREEN_COPY),
        (["aigc_label_generated"], verdicts.AI_LABELLED),
        (["c2pa_ai_generated", "c2pa_manifest_present"], verdicts.AI_LABELLED),
        (["sd_watermark_detected"], verdicts.AI_LABELLED),
        (["generator_parameters"], verdicts.AI_LABELLED),
        (["reuse_other_buyer"], verdicts.REUSED),
        (["reuse_confirmed_forgery", "metadata_no_camera"], verdicts.REUSED),
        (["reference_copy", "reuse_other_buyer"], verdicts.COPY),
        (["aigc_label_generated", "reuse_same_buyer"], verdicts.AI_LABELLED),
        (["reference_match_inconclusive"], verdicts.INCONCLUSIVE),
        (["copy_move_region"], verdicts.INCONCLUSIVE),
        (["jpeg_double_compression", "metadata_no_camera"], verdicts.INCONCLUSIVE),
        (["metadata_no_camera", "metadata_gps_present", "ela_heatmap"], verdicts.CLEAN),
        (["metadata_camera", "jpeg_resaved"], verdicts.CLEAN),
        ([], verdicts.CLEAN),
    ],
)
def test_the_table_and_its_precedence(codes, expected):
    assert decide([row(code) for code in codes]).code == expected


def test_reasons_come_strongest_verdict_first_and_keep_the_weaker_ones():
    verdict = decide(
        [
            row("metadata_no_camera"),
            row("reuse_other_buyer"),
            row("reference_copy"),
            row("reference_altered_region"),
        ]
    )

    assert [r["code"] for r in verdict.reasons] == [
        "reference_altered_region",
        "reference_copy",
        "reuse_other_buyer",
        "metadata_no_camera",
    ]
    assert [r["verdict"] for r in verdict.reasons][-1] == verdicts.CLEAN


def test_a_failed_check_or_a_failed_file_is_never_clean():
    assert decide([row("check_error", weight=0, severity="error")]).code == verdicts.INCONCLUSIVE
    failed = decide([], failed_message="The automated checks could not be completed.")
    assert failed.code == verdicts.INCONCLUSIVE
    assert failed.reasons[0]["code"] == "checks_failed"


def test_an_unknown_code_is_read_by_its_severity():
    assert decide([row("some_new_signal", weight=5, severity="low")]).code == verdicts.INCONCLUSIVE
    assert decide([row("some_new_fact", weight=0, severity="info")]).code == verdicts.CLEAN


def test_only_each_checks_newest_version_speaks():
    rows = [
        row("reference_copy", check_name="reference_match", check_version=2),
        row("reference_match_inconclusive", check_name="reference_match", check_version=3),
        row("metadata_no_camera", check_name="camera_metadata", check_version=1),
    ]
    versions = verdicts.check_versions(
        [("reference_match", 2), ("reference_match", 3), ("camera_metadata", 1)]
    )

    kept = verdicts.latest_versions(rows, versions)

    assert [r.code for r in kept] == ["reference_match_inconclusive", "metadata_no_camera"]
    assert decide(kept).code == verdicts.INCONCLUSIVE


# --- stored by the pipeline -----------------------------------------------------------


@pytest.fixture
def submit_photo(shop_a, make_order, listing_product, django_capture_on_commit_callbacks):
    """Submit ``data`` as the buyer's photo on a new claim of the listing's product; the
    (eager) worker checks it."""
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.services import claim_submit

    def _submit(data: bytes):
        with django_capture_on_commit_callbacks(execute=True):
            claim = claim_submit(
                order=make_order(shop_a, product=listing_product),
                amount=Decimal("20.00"),
                reason="damaged",
                actor=Actor.platform("test"),
            )
            evidence = evidence_add(upload=data, submitted_by="buyer", claim=claim)
        evidence.refresh_from_db()
        claim.refresh_from_db()
        return claim, evidence

    return _submit


def forged_copy() -> bytes:
    painted = synthetic.paint_damage(synthetic.render_product_photo(101), 707)
    return synthetic.encode_jpeg(painted.image, quality=85)


def genuine_photo() -> bytes:
    shot = synthetic.render_other_shot(101, 3)
    return synthetic.encode_jpeg(shot.image, quality=90)  # no EXIF, as platforms strip it


def test_the_pipeline_stores_the_verdict_of_an_edited_copy(submit_photo):
    claim, evidence = submit_photo(forged_copy())

    verdict = evidence.current_verdict

    assert verdict.verdict == verdicts.EDITED_COPY
    assert [r["code"] for r in verdict.reasons[:2]] == [
        "reference_altered_region",
        "reference_copy",
    ]
    assert verdict.check_versions["reference_match"] == check_by_name("reference_match").version
    assert verdict.rules_version == verdicts.RULES_VERSION
    assert claim.risk_reasons[0]["verdict"] == verdicts.EDITED_COPY
    assert claim.risk_score >= 70


def test_a_genuine_photo_is_clean(submit_photo):
    _claim, evidence = submit_photo(genuine_photo())

    assert evidence.current_verdict.verdict == verdicts.CLEAN, evidence.current_verdict.reasons


def test_a_new_check_version_stores_a_new_verdict_and_keeps_the_old(submit_photo, monkeypatch):
    from evidence.models import EvidenceFile, EvidenceVerdict
    from evidence.pipeline import check_evidence

    _claim, evidence = submit_photo(forged_copy())
    first = evidence.current_verdict
    check = check_by_name("copy_move")
    old = check.version
    monkeypatch.setattr(type(check), "version", old + 1)
    EvidenceFile.objects.filter(pk=evidence.pk).update(status="pending", check_attempts=0)

    assert check_evidence(evidence.pk) == "checked"

    rows = EvidenceVerdict.objects.filter(evidence=evidence).order_by("id")
    assert rows.count() == 2
    assert [v.is_current for v in rows] == [False, True]
    assert rows[1].check_versions["copy_move"] == old + 1
    assert rows[0].pk == first.pk and rows[0].check_versions["copy_move"] == old


def test_checking_again_at_the_same_versions_keeps_one_verdict(submit_photo):
    from evidence.models import EvidenceFile, EvidenceVerdict
    from evidence.pipeline import check_evidence

    _claim, evidence = submit_photo(genuine_photo())
    EvidenceFile.objects.filter(pk=evidence.pk).update(status="pending", check_attempts=0)

    check_evidence(evidence.pk)

    assert EvidenceVerdict.objects.filter(evidence=evidence).count() == 1


def test_a_file_whose_checks_failed_is_inconclusive(submit_photo):
    from evidence.models import EvidenceFile
    from evidence.pipeline import mark_failed

    _claim, evidence = submit_photo(genuine_photo())
    EvidenceFile.objects.filter(pk=evidence.pk).update(status="checking")

    mark_failed(evidence.pk, "worker lost")

    assert evidence.current_verdict.verdict == verdicts.INCONCLUSIVE
    assert evidence.current_verdict.reasons[0]["code"] == "checks_failed"


def test_the_backfill_gives_files_checked_before_verdicts_theirs(submit_photo):
    from evidence.models import EvidenceVerdict

    _claim, forged = submit_photo(forged_copy())
    _claim, genuine = submit_photo(genuine_photo())
    EvidenceVerdict.objects.all().delete()  # as before migration 0005

    backfill_migration.backfill(apps, None)

    assert forged.current_verdict.verdict == verdicts.EDITED_COPY
    assert genuine.current_verdict.verdict == verdicts.CLEAN
    assert EvidenceVerdict.objects.count() == 2


# --- the claim's score from verdicts --------------------------------------------------


def _reasons(*codes):
    return decide([row(code) for code in codes]).reasons


def test_one_verdict_kind_counts_once_at_its_strongest_file(monkeypatch):
    from evidence import scoring

    files = [
        (1, _reasons("reference_match_inconclusive")),
        (2, _reasons("copy_move_region", "jpeg_double_compression")),
        (3, _reasons("reference_match_inconclusive")),
    ]
    monkeypatch.setattr(scoring, "_current_verdict_reasons", lambda claim_id: files)
    monkeypatch.setattr(scoring, "threshold", lambda name: 40)

    score = scoring.score_claim(claim_id=0)

    # three weak files: the strongest (10 and 10 -> 19), not all five aids (41)
    assert score.score == 19
    assert {r["evidence_id"] for r in score.reasons} == {2}
    assert score.codes == {
        "reference_match_inconclusive",
        "copy_move_region",
        "jpeg_double_compression",
    }


def test_different_verdicts_combine_strongest_first(monkeypatch):
    from evidence import scoring

    files = [
        (1, _reasons("reuse_other_buyer", "metadata_no_camera")),
        (2, _reasons("reference_copy")),
    ]
    monkeypatch.setattr(scoring, "_current_verdict_reasons", lambda claim_id: files)
    monkeypatch.setattr(scoring, "threshold", lambda name: 40)

    score = scoring.score_claim(claim_id=0)

    assert score.score == scoring.combine([90, 60, 5])
    assert [(r["verdict"], r["evidence_id"]) for r in score.reasons] == [
        (verdicts.COPY, 2),
        (verdicts.REUSED, 1),
        (verdicts.CLEAN, 1),
    ]
