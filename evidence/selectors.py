"""Reads of the evidence app: files of a claim, reference photos, the near-duplicate index."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from evidence.models import EvidenceFile, Finding

UNSETTLED = (EvidenceFile.Status.PENDING, EvidenceFile.Status.CHECKING)
# The index answers exactly for every stored hash within this Hamming distance (see
# ``near_duplicates``); checks treat distances up to it as "the same picture".
NEAR_DUPLICATE_RADIUS = 7


def claim_has_unsettled_evidence(*, claim_id: int) -> bool:
    return EvidenceFile.objects.filter(claim_id=claim_id, status__in=UNSETTLED).exists()


def evidence_for_claim(*, claim_id: int) -> QuerySet[EvidenceFile]:
    return EvidenceFile.objects.filter(claim_id=claim_id).prefetch_related("findings__artifacts")


def findings_for_claim(*, claim_id: int) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(claim_id=claim_id)
        .select_related("evidence", "check_run")
        .prefetch_related("artifacts")
        .order_by("-weight", "id")
    )


def reference_files_for_order(*, order) -> QuerySet[EvidenceFile]:
    """The merchant's listing photos of the order's products and its packing photos."""
    product_ids = [i.product_id for i in order.items.all() if i.product_id]
    return EvidenceFile.objects.filter(
        Q(product_id__in=product_ids) | Q(shipment__order=order),
        status=EvidenceFile.Status.CHECKED,
        features__isnull=False,
    ).select_related("product")


def _one_bit_neighbours(chunk: int) -> list[int]:
    return [chunk, *(chunk ^ (1 << bit) for bit in range(16))]


def near_duplicates(
    *, phash: int, chunks: list[int], exclude_id: int | None = None, limit: int = 50
) -> list[tuple[EvidenceFile, int]]:
    """Claim files whose pHash is within ``NEAR_DUPLICATE_RADIUS`` bits, nearest first.

    Multi-index hashing with one-bit probing: two 64-bit hashes within 7 bits differ by
    at most 1 bit in at least one of their four 16-bit chunks (pigeonhole: 4 chunks × 2
    bits = 8 > 7). So querying each chunk column for the chunk and its 16 one-bit
    neighbours finds every such hash through four indexed IN lookups; the candidates
    are then verified by their full Hamming distance.
    """
    from evidence.hashing import hamming_distance

    condition = Q()
    for i, chunk in enumerate(chunks):
        condition |= Q(**{f"phash_{i}__in": _one_bit_neighbours(chunk)})
    # Verify every candidate on bare (id, hash) tuples: cheap even for thousands, and no
    # arbitrary cut-off that could drop a true match before its distance is known.
    candidate_hashes = (
        EvidenceFile.objects.filter(condition, attached_to="claim", phash__isnull=False)
        .exclude(pk=exclude_id)
        .order_by()
        .values_list("pk", "phash")
    )
    distances = {
        pk: distance
        for pk, other in candidate_hashes
        if (distance := hamming_distance(phash, other)) <= NEAR_DUPLICATE_RADIUS
    }
    nearest = sorted(distances, key=distances.get)[:limit]
    files = EvidenceFile.objects.select_related("claim").in_bulk(nearest)
    matches = [(files[pk], distances[pk]) for pk in nearest if pk in files]
    return matches
