"""Has this picture been used before: in a confirmed forgery, or in other claims?

The pipeline finds candidates in its perceptual-hash index (multi-index hashing on the
pHash, see :mod:`evidence.hashing`) and hands them over as ``context.similar_images``;
this check only judges them. It never queries anything itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_noop

from evidence import hashing
from evidence.checks.base import Check, CheckContext, FindingData, Severity, SimilarImage

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

# The index guarantees every hash within 3 bits (four 16-bit chunks); anything farther
# the pipeline may pass along is not "the same picture" for this check.
MAX_DISTANCE = hashing.GUARANTEED_RADIUS
MAX_LISTED = 20


def _match(candidate: SimilarImage) -> dict:
    return {
        "evidence_id": candidate.evidence_id,
        "claim_id": candidate.claim_id,
        "buyer_id": candidate.buyer_id,
        "order_id": candidate.order_id,
        "distance": candidate.distance,
        "same_sha256": candidate.same_sha256,
        "confirmed_forgery": candidate.confirmed_forgery,
    }


class ReuseCheck(Check):
    """Reports pictures already seen elsewhere, judged from the hash index's candidates.

    Promises, for candidates within :data:`MAX_DISTANCE` bits of pHash (or with the same
    SHA-256), outside the claim being checked: ``reuse_confirmed_forgery`` (critical) when
    one of them belongs to a claim confirmed as forged; ``reuse_other_buyer`` (high) when
    another buyer submitted it; ``reuse_same_buyer`` (medium) when the same buyer used it
    in another claim. One finding per code, nearest match first, all ids in details.
    Near-blank pictures, whose hashes match any other blank picture, are skipped.
    """

    name = "reuse"
    version = 1
    codes = {
        "reuse_confirmed_forgery": (
            90,
            "The same picture was part of a claim already confirmed as forged.",
        ),
        "reuse_other_buyer": (60, "The same picture was submitted in another buyer's claim."),
        "reuse_same_buyer": (30, "The same buyer already submitted this picture in another claim."),
    }
    submitted_by = frozenset({"buyer", "platform"})

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        candidates = [
            c
            for c in context.similar_images
            if (c.distance <= MAX_DISTANCE or c.same_sha256)
            and (context.claim_id is None or c.claim_id != context.claim_id)
        ]
        if not candidates or hashing.is_low_information(image.gray):
            return []
        candidates.sort(key=lambda c: (not c.same_sha256, c.distance, c.evidence_id))

        forged = [c for c in candidates if c.confirmed_forgery]
        other_buyer = [
            c
            for c in candidates
            if not c.confirmed_forgery
            and c.buyer_id is not None
            and context.buyer_id is not None
            and c.buyer_id != context.buyer_id
        ]
        same_buyer = [
            c
            for c in candidates
            if not c.confirmed_forgery and c.buyer_id is not None and c.buyer_id == context.buyer_id
        ]
        findings = []
        if forged:
            findings.append(
                self._finding(
                    "reuse_confirmed_forgery",
                    Severity.CRITICAL,
                    gettext_noop(
                        "This picture was already used in claim #%(claim_id)s, which was"
                        " confirmed as forged (%(count)s match(es) in all)."
                    ),
                    forged,
                )
            )
        if other_buyer:
            findings.append(
                self._finding(
                    "reuse_other_buyer",
                    Severity.HIGH,
                    gettext_noop(
                        "Another buyer submitted the same picture in claim #%(claim_id)s"
                        " (%(count)s match(es) in all)."
                    ),
                    other_buyer,
                )
            )
        if same_buyer:
            findings.append(
                self._finding(
                    "reuse_same_buyer",
                    Severity.MEDIUM,
                    gettext_noop(
                        "The same buyer already submitted this picture in claim #%(claim_id)s"
                        " (%(count)s match(es) in all)."
                    ),
                    same_buyer,
                )
            )
        return findings

    def _finding(
        self, code: str, severity: Severity, message: str, matches: list[SimilarImage]
    ) -> FindingData:
        nearest = matches[0]
        return FindingData(
            code=code,
            severity=severity,
            message=message,
            params={
                "claim_id": nearest.claim_id if nearest.claim_id is not None else "?",
                "count": len(matches),
            },
            details={
                "matches": [_match(c) for c in matches[:MAX_LISTED]],
                "total": len(matches),
                "nearest_distance": nearest.distance,
                "max_distance": MAX_DISTANCE,
            },
            related_evidence_id=nearest.evidence_id,
        )
