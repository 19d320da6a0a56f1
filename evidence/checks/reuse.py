"""Has this picture been used before: in a confirmed forgery, or in other claims?

The pipeline finds candidates in its perceptual-hash index (multi-index hashing on the
pHash, see :mod:`evidence.hashing`), once for the picture and once for its mirror image,
and hands them over as ``context.similar_images`` with the stored ORB features of those
that need them; this check only judges them. It never queries anything itself.

Which candidates are "the same picture": the same bytes (SHA-256), or a pHash within
:data:`HASH_ONLY_DISTANCE` bits. Crops, resizes and recompression move the pHash further
(a 3 % crop: 4-10 bits), where genuinely different shots of the same product also land,
so a candidate at :data:`HASH_ONLY_DISTANCE` + 1 .. :data:`MAX_DISTANCE` bits counts only
when ORB registration against its stored features says it is the same picture (the
``reference_match`` check's test: a similarity transform, most of the frame, the same
pixels). A mirrored candidate is registered against the mirrored picture. Candidates found
through the hash of one of an earlier file's crops (:func:`evidence.hashing.crop_hashes`:
centred, one side, a corner or two opposite sides cut away; a picture cut from it) are
always registered, never taken on the hash alone, and count only when the registration
is that of a crop (no rotation, the picture inside the earlier one: a second genuine shot
from nearly the same place can otherwise register); ``crop_percent`` in a match's details
is the most that crop cut off any one side (0: found through the whole picture's hash).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
from django.utils.translation import gettext_noop

from evidence import hashing
from evidence.checks.base import Check, CheckContext, FindingData, Severity, SimilarImage
from evidence.checks.reference_match import compute_features, register

if TYPE_CHECKING:
    from evidence.checks.reference_match import ImageFeatures
    from evidence.imaging import DecodedImage

# Up to here the pHash alone says "the same picture" (what the index guaranteed with
# exact chunk matches before it probed one-bit neighbours).
HASH_ONLY_DISTANCE = hashing.GUARANTEED_RADIUS
# The index's radius: farther candidates are not considered at all.
MAX_DISTANCE = hashing.INDEX_RADIUS
# A candidate found through a crop hash must register as a crop of it: cropping neither
# rotates a picture nor shows anything outside it. (True crops register at 0.02-0.03
# degrees and cover the claim frame entirely; a second genuine shot from nearly the same
# place, which the crop hashes can bring within the radius, is turned at its own roll.)
MAX_CROP_ROTATION_DEG = 1.0
MIN_CROP_CLAIM_OVERLAP = 0.95
# Registrations per file (each ~10 ms); nearest candidates first.
MAX_REGISTRATIONS = 8
MAX_LISTED = 20


def needs_registration(candidate: SimilarImage) -> bool:
    """True when registration decides whether the candidate counts (the pipeline loads
    stored features for these): every candidate but an identical file. Within
    :data:`HASH_ONLY_DISTANCE` a candidate without stored features (checked before they
    were kept) still counts on its hash alone."""
    return not candidate.same_sha256 and candidate.distance <= MAX_DISTANCE


def _match(candidate: SimilarImage, verified_by: str) -> dict:
    return {
        "evidence_id": candidate.evidence_id,
        "claim_id": candidate.claim_id,
        "buyer_id": candidate.buyer_id,
        "order_id": candidate.order_id,
        "distance": candidate.distance,
        "same_sha256": candidate.same_sha256,
        "confirmed_forgery": candidate.confirmed_forgery,
        "mirrored": candidate.mirrored,
        "crop_percent": candidate.crop_percent,
        "verified_by": verified_by,  # sha256 | phash | registration
    }


class ReuseCheck(Check):
    """Reports pictures already seen elsewhere, judged from the hash index's candidates.

    Promises, for candidates outside the claim being checked that are the same picture
    (same SHA-256; or within :data:`MAX_DISTANCE` bits of pHash and confirmed as the same
    photograph by ORB registration against the candidate's stored features — a second
    genuine shot of the same product is not; or, for files stored without features,
    within :data:`HASH_ONLY_DISTANCE` bits), mirrored or not:
    ``reuse_confirmed_forgery`` (critical) when one of them belongs to a claim confirmed
    as forged; ``reuse_other_buyer`` (high) when another
    buyer submitted it; ``reuse_same_buyer`` (medium) when the same buyer used it in a
    claim on another order (a claim filed again on the same order may repeat its photos).
    One finding per code, nearest match first, all ids in details. Near-blank pictures,
    whose hashes match any other blank picture, are skipped.
    """

    name = "reuse"
    version = 4  # 4: a candidate found through a crop hash must register as a crop
    codes = {
        "reuse_confirmed_forgery": (
            90,
            "The same picture was part of a claim already confirmed as forged.",
        ),
        "reuse_other_buyer": (60, "The same picture was submitted in another buyer's claim."),
        # Suspicious on its own (>= 40): a damage photo cannot show this order's item
        # when it was already used for another order; below "high-risk" (70) because one
        # photo of two orders' items delivered together is an honest explanation.
        "reuse_same_buyer": (
            50,
            "The same buyer already submitted this picture in a claim on another order.",
        ),
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
        candidates.sort(key=lambda c: (not c.same_sha256, c.distance, c.mirrored, c.evidence_id))
        same = self._same_pictures(image, candidates)

        forged = [(c, how) for c, how in same if c.confirmed_forgery]
        other_buyer = [
            (c, how)
            for c, how in same
            if not c.confirmed_forgery
            and c.buyer_id is not None
            and context.buyer_id is not None
            and c.buyer_id != context.buyer_id
        ]
        same_buyer = [
            (c, how)
            for c, how in same
            if not c.confirmed_forgery
            and c.buyer_id is not None
            and c.buyer_id == context.buyer_id
            and (c.order_id is None or c.order_id != context.order_id)
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

    def _same_pictures(
        self, image: DecodedImage, candidates: list[SimilarImage]
    ) -> list[tuple[SimilarImage, str]]:
        """The candidates that are this picture, each file once, with how that was told."""
        same: list[tuple[SimilarImage, str]] = []
        seen: set[int] = set()
        registrations = 0
        for candidate in candidates:
            if candidate.evidence_id in seen:
                continue
            if candidate.same_sha256:
                verified_by = "sha256"
            elif candidate.features is not None and registrations < MAX_REGISTRATIONS:
                # Two genuine shots of one product from nearly the same place can hash
                # within a few bits: with features at hand, registration decides.
                registrations += 1
                if not self._registers(image, candidate):
                    continue
                verified_by = "registration"
            elif candidate.distance <= HASH_ONLY_DISTANCE and not candidate.crop_percent:
                verified_by = "phash"
            else:
                continue
            seen.add(candidate.evidence_id)
            same.append((candidate, verified_by))
        return same

    def _registers(self, image: DecodedImage, candidate: SimilarImage) -> bool:
        ours = _mirrored_features(image) if candidate.mirrored else compute_features(image)
        theirs: ImageFeatures = candidate.features
        if theirs.version != ours.version:  # computed by other code: not comparable
            return False
        registration = register(ours, theirs)
        if registration is None or not registration.is_same_picture:
            return False
        if candidate.crop_percent:
            return (
                abs(registration.rotation_deg) <= MAX_CROP_ROTATION_DEG
                and registration.claim_overlap >= MIN_CROP_CLAIM_OVERLAP
            )
        return True

    def _finding(
        self,
        code: str,
        severity: Severity,
        message: str,
        matches: list[tuple[SimilarImage, str]],
    ) -> FindingData:
        nearest = matches[0][0]
        return FindingData(
            code=code,
            severity=severity,
            message=message,
            params={
                "claim_id": nearest.claim_id if nearest.claim_id is not None else "?",
                "count": len(matches),
            },
            details={
                "matches": [_match(c, how) for c, how in matches[:MAX_LISTED]],
                "total": len(matches),
                "nearest_distance": nearest.distance,
                "hash_only_distance": HASH_ONLY_DISTANCE,
                "max_distance": MAX_DISTANCE,
            },
            related_evidence_id=nearest.evidence_id,
        )


def _mirrored_features(image: DecodedImage) -> ImageFeatures:
    features = image.memo.get("mirrored_features")
    if features is None:
        features = image.memo["mirrored_features"] = compute_features(cv2.flip(image.working, 1))
    return features
