"""The checks' results are written in a fixed handful of statements per file (bulk
inserts), whatever the number of checks, findings and heatmaps; each finding keeps its
own check run and its own artifacts, and a re-run replaces rather than adds."""

from __future__ import annotations

import pytest
from django.utils import timezone

from evidence import pipeline
from evidence.checks.base import Artifact, Check, FindingData, Severity
from evidence.models import CheckRun, Finding, FindingArtifact

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class _Fake(Check):
    codes = {}

    def __init__(self, name: str) -> None:
        self.name, self.version = name, 1


def _outcomes(findings_per_check: list[int]) -> list[pipeline.CheckOutcome]:
    outcomes = []
    for n, count in enumerate(findings_per_check):
        findings = [
            FindingData(
                code=f"code_{n}_{i}",
                severity=Severity.INFO,
                message="m",
                artifacts=[Artifact(f"map{k}", PNG) for k in range(i % 3)],
            )
            for i in range(count)
        ]
        check = _Fake(f"fake_{n}")
        outcomes.append(pipeline.CheckOutcome(check, "done", findings, timezone.now()))
    return outcomes


@pytest.fixture
def evidence(shop_a, make_claim, photo_bytes, media_in_tmp, django_capture_on_commit_callbacks):
    """A buyer's photo on a claim, checked once by the (eager) worker."""
    from evidence.services import evidence_add

    claim = make_claim(shop_a)
    with django_capture_on_commit_callbacks(execute=True):
        stored = evidence_add(upload=photo_bytes(41), submitted_by="buyer", claim=claim)
    stored.refresh_from_db()
    return stored


@pytest.mark.parametrize("findings_per_check", [[1, 0, 2], [3, 4, 1, 5, 2, 0, 6]])
def test_the_results_take_the_same_statements_however_many_findings(
    evidence, findings_per_check, django_assert_num_queries
):
    outcomes = _outcomes(findings_per_check)

    # the runs redone deleted (a select and the cascades), 3 bulk inserts, the verdict
    with django_assert_num_queries(16):
        pipeline._save_outcomes(evidence, outcomes)

    runs = CheckRun.objects.filter(evidence=evidence, check_name__startswith="fake_")
    assert runs.count() == len(findings_per_check)
    for n, count in enumerate(findings_per_check):
        findings = Finding.objects.filter(check_run__check_name=f"fake_{n}").order_by("id")
        assert [f.code for f in findings] == [f"code_{n}_{i}" for i in range(count)]
        for i, finding in enumerate(findings):
            names = sorted(finding.artifacts.values_list("name", flat=True))
            assert names == [f"map{k}" for k in range(i % 3)]


def test_checking_again_replaces_the_runs_of_the_same_versions(evidence):
    pipeline._save_outcomes(evidence, _outcomes([2, 1]))
    pipeline._save_outcomes(evidence, _outcomes([1, 3]))

    runs = CheckRun.objects.filter(evidence=evidence, check_name__startswith="fake_")
    assert runs.count() == 2
    assert Finding.objects.filter(check_run__in=runs).count() == 4
    assert FindingArtifact.objects.filter(finding__check_run__in=runs).count() == 0 + 0 + 1 + 2
