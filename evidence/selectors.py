"""Reads of the evidence app: files of a claim, reference photos, the near-duplicate index."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections
from django.db.models import Prefetch, Q, QuerySet, Value

from evidence.hashing import INDEX_RADIUS, crop_chunk_probes, hamming_distance, hash_chunks
from evidence.models import CropHash, EvidenceFile, EvidenceVerdict, Finding

UNSETTLED = (EvidenceFile.Status.PENDING, EvidenceFile.Status.CHECKING)
# The index answers exactly for every stored hash within this Hamming distance (see
# ``near_duplicates``); what counts as "the same picture" is the reuse check's call.
NEAR_DUPLICATE_RADIUS = INDEX_RADIUS


def claim_has_unsettled_evidence(*, claim_id: int) -> bool:
    return EvidenceFile.objects.filter(claim_id=claim_id, status__in=UNSETTLED).exists()


# ``EvidenceFile.current_verdict`` reads it: one query for all of a claim's files.
CURRENT_VERDICTS = Prefetch(
    "verdicts", queryset=EvidenceVerdict.objects.filter(is_current=True), to_attr="current_verdicts"
)


def claim_photo_verdicts(*, claim_id: int) -> list[str]:
    """The current verdict code of each of the claim's buyer (and platform) photos, in
    upload order: what routing rules match on."""
    return list(
        EvidenceVerdict.objects.filter(
            evidence__claim_id=claim_id,
            evidence__submitted_by__in=["buyer", "platform"],
            is_current=True,
        )
        .order_by("evidence_id")
        .values_list("verdict", flat=True)
    )


def claims_photo_verdicts(*, claim_ids: list[int]) -> dict[int, list[str]]:
    """:func:`claim_photo_verdicts` of several claims in one query: {claim: verdicts}."""
    verdicts: dict[int, list[str]] = {claim_id: [] for claim_id in claim_ids}
    rows = (
        EvidenceVerdict.objects.filter(
            evidence__claim_id__in=claim_ids,
            evidence__submitted_by__in=["buyer", "platform"],
            is_current=True,
        )
        .order_by("evidence_id")
        .values_list("evidence__claim_id", "verdict")
    )
    for claim_id, verdict in rows:
        verdicts[claim_id].append(verdict)
    return verdicts


def evidence_for_claim(*, claim_id: int, with_findings: bool = True) -> QuerySet[EvidenceFile]:
    """The claim's files for display or export, with their verdicts and (unless the
    caller reads the claim's findings itself: ``with_findings=False``) their findings;
    not their stored features (the checks' data, ~60 KB a photo, nothing a page shows)."""
    files = EvidenceFile.objects.filter(claim_id=claim_id).defer("features")
    if with_findings:
        files = files.prefetch_related("findings__artifacts")
    return files.prefetch_related(CURRENT_VERDICTS)


def findings_for_claim(*, claim_id: int) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(claim_id=claim_id)
        .select_related("evidence", "check_run")
        .defer("evidence__features")
        .prefetch_related("artifacts")
        .order_by("-weight", "id")
    )


def reference_files_for_order(*, order, with_features: bool = True) -> QuerySet[EvidenceFile]:
    """The merchant's current listing photos of the order's products and its packing
    photos, packing videos' kept frames among them (a video itself has no features).
    ``with_features=False`` for a page or an export: the checks' stored features are
    left unread.

    The order's products and shipments as lists of ids (``order.items`` prefetched or
    read here): ``product_id IN (…) OR shipment_id IN (…)`` is two index ranges of the
    file table. With the shipments joined (``shipment__order``) or the products as a
    subquery, the ``OR`` could only be tested row by row after a scan of every file
    (180 ms at 1M claims, docs/performance.md)."""
    from merchants.models import Shipment

    product_ids = [i.product_id for i in order.items.all() if i.product_id]
    shipment_ids = list(Shipment.objects.filter(order=order).values_list("pk", flat=True))
    files = EvidenceFile.objects.filter(
        Q(product_id__in=product_ids) | Q(shipment_id__in=shipment_ids),
        status=EvidenceFile.Status.CHECKED,
        features__isnull=False,
        retired_at__isnull=True,
    ).select_related("product")
    return files if with_features else files.defer("features")


def _one_bit_neighbours(chunk: int) -> list[int]:
    return [chunk, *(chunk ^ (1 << bit) for bit in range(16))]


def _distance_in_database(using: str) -> bool:
    connection = connections[using]
    return connection.vendor == "postgresql" and connection.pg_version >= 140000


def near_duplicates(
    *,
    phash: int,
    chunks: Sequence[int] | None = None,
    exclude_id: int | None = None,
    limit: int = 50,
) -> list[tuple[EvidenceFile, int]]:
    """Claim files whose pHash, or the pHash of one of their crops
    (:class:`~evidence.models.CropHash`, one per box of ``hashing.CROP_BOXES``), is
    within ``NEAR_DUPLICATE_RADIUS`` bits, nearest first (ties by id), at most ``limit``,
    with their claims; ``features`` is deferred. A file found several ways counts at its
    nearest hash; each file's ``crop_percent`` says which matched (0: the whole picture's;
    else the most its crop box cuts off any one side).

    Multi-index hashing with one-bit probing: two 64-bit hashes within 7 bits differ by
    at most 1 bit in at least one of their four 16-bit chunks (pigeonhole: 4 chunks × 2
    bits = 8 > 7). So querying each chunk column for the chunk and its 16 one-bit
    neighbours finds every such hash through four indexed IN lookups. The crop hashes,
    43 rows a photo, have longer chunks of their own (21, 21 and 22 bits,
    ``hashing.CROP_CHUNK_BITS``) probed within 2, 1 and 1 bits (277 values; 3 + 2 + 2 =
    7 > 6): every crop hash within 6 bits, which for pHashes (32 bits set: even
    distances) is every one within 7, for an eighth of the candidates. Every candidate is
    then verified by its full Hamming distance. On PostgreSQL 14+ the database verifies,
    orders and cuts (the candidates never leave it); elsewhere (SQLite) the candidates'
    bare (id, hash) tuples are verified here. One query when nothing matches, two when
    something does.
    """
    chunks = hash_chunks(phash) if chunks is None else chunks
    if _distance_in_database(EvidenceFile.objects.db):
        nearest = _nearest_in_database(phash, chunks, exclude_id, limit)
        return _with_files(nearest)
    condition = Q()
    for i, chunk in enumerate(chunks):
        condition |= Q(**{f"phash_{i}__in": _one_bit_neighbours(chunk)})
    files = EvidenceFile.objects.filter(condition, attached_to="claim", phash__isnull=False)
    crop_condition = Q()
    for i, probes in enumerate(crop_chunk_probes(phash)):
        crop_condition |= Q(**{f"chunk_{i}__in": probes})
    crops = CropHash.objects.filter(crop_condition)
    if exclude_id is not None:
        files = files.exclude(pk=exclude_id)
        crops = crops.exclude(evidence_id=exclude_id)
    # No arbitrary cut-off before the distance is known: no true match is dropped.
    nearest: dict[int, tuple[int, int]] = {}
    both = (
        files.order_by()
        .annotate(percent=Value(0))
        .values_list("pk", "phash", "percent")
        .union(crops.order_by().values_list("evidence_id", "phash", "percent"), all=True)
    )
    for pk, other, percent in both:
        found = (hamming_distance(phash, other), percent)
        if found[0] <= NEAR_DUPLICATE_RADIUS and found < nearest.get(pk, (65, 0)):
            nearest[pk] = found
    ranked = sorted(nearest.items(), key=lambda item: (item[1][0], item[0]))[:limit]
    return _with_files([(pk, distance, percent) for pk, (distance, percent) in ranked])


# One arm per chunk and table, each answered by an index-only scan of its covering index
# (``evidence_mih_<i>``, partial: claim photos; ``crophash_chunk_<i>``: the chunk, then the
# full hash and the file's id); as a UNION, not an OR, which would force a bitmap of the
# chunks and a read of every candidate's table row.
_ARM = (
    "SELECT id, bit_count((phash # %(hash)s)::bit(64)) AS distance, 0 AS percent FROM {table} "
    "WHERE attached_to = 'claim' AND phash IS NOT NULL AND phash_{i} = ANY(%(probes{i})s)"
    "{exclude}"
)
_CROP_ARM = (
    "SELECT evidence_id AS id, bit_count((phash # %(hash)s)::bit(64)) AS distance, percent "
    "FROM {table} WHERE chunk_{i} = ANY(%(crop_probes{i})s){exclude}"
)

# Each file once, at its nearest hash (the whole picture's first on a tie).
_NEAREST = (
    "SELECT id, distance, percent FROM (SELECT DISTINCT ON (id) id, distance, percent "
    "FROM ({arms}) AS candidates WHERE distance <= %(radius)s "
    "ORDER BY id, distance, percent) AS nearest ORDER BY distance, id LIMIT %(limit)s"
)


def _nearest_in_database(phash, chunks, exclude_id, limit) -> list[tuple[int, int, int]]:
    """PostgreSQL 14+: the candidates verified, ordered and cut in the database (they
    never leave it; docs/scaling.md)."""
    connection = connections[EvidenceFile.objects.db]
    exclude = " AND id <> %(exclude)s" if exclude_id is not None else ""
    crop_exclude = " AND evidence_id <> %(exclude)s" if exclude_id is not None else ""
    table = connection.ops.quote_name(EvidenceFile._meta.db_table)
    crop_table = connection.ops.quote_name(CropHash._meta.db_table)
    crop_probes = crop_chunk_probes(phash)
    arms = " UNION ALL ".join(
        [
            *(_ARM.format(table=table, i=i, exclude=exclude) for i in range(len(chunks))),
            *(
                _CROP_ARM.format(table=crop_table, i=i, exclude=crop_exclude)
                for i in range(len(crop_probes))
            ),
        ]
    )
    sql = _NEAREST.format(arms=arms)
    params = {
        "hash": phash,
        "exclude": exclude_id,
        "radius": NEAR_DUPLICATE_RADIUS,
        "limit": limit,
        **{f"probes{i}": _one_bit_neighbours(chunk) for i, chunk in enumerate(chunks)},
        **{f"crop_probes{i}": probes for i, probes in enumerate(crop_probes)},
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def _with_files(nearest: list[tuple[int, int, int]]) -> list[tuple[EvidenceFile, int]]:
    # Whole rows only for the matches (usually none): the lookup itself stays on tuples.
    files = (
        EvidenceFile.objects.select_related("claim")
        .defer("features")
        .in_bulk([pk for pk, _distance, _percent in nearest])
    )
    found = []
    for pk, distance, percent in nearest:
        if pk in files:
            files[pk].crop_percent = percent
            found.append((files[pk], distance))
    return found
