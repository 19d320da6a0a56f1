"""The near-duplicate index (``selectors.near_duplicates``) on SQLite and PostgreSQL."""

import uuid

import pytest
from django.db import connection

from evidence import selectors
from evidence.hashing import crop_hash_chunks, hamming_distance, hash_chunks, to_signed64
from evidence.models import CropHash, EvidenceFile

# The top bit set: the stored value is a negative bigint on every backend.
QUERY = to_signed64(0xF0E1_D2C3_B4A5_9687)


def flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return to_signed64(value)


# Bits by chunk (chunk 0 holds bits 48-63): at 7 bits no chunk is more than one bit
# away only in the chunk holding one flipped bit, the hardest case for the index.
PLANTED = {
    0: [],
    1: [63],
    2: [0, 16],
    3: [1, 17, 33],
    4: [2, 18, 34, 50],
    5: [3, 4, 19, 35, 51],
    6: [5, 6, 20, 21, 36, 52],
    7: [7, 8, 22, 23, 37, 38, 53],
}
TOO_FAR = {
    8: [9, 10, 24, 25, 39, 40, 54, 55],  # two bits in every chunk: not even a candidate
    9: [11, 12, 13, 26, 27, 28, 41, 42, 43],  # chunk 0 equal: a candidate, rejected
}


def index(claim, value: int, *, product=None) -> EvidenceFile:
    chunks = hash_chunks(value)
    return EvidenceFile.objects.create(
        attached_to="product" if product else "claim",
        claim=None if product else claim,
        product=product,
        submitted_by="buyer",
        original=f"evidence/original/test/{uuid.uuid4()}",
        sha256=uuid.uuid4().hex * 2,
        content_type="image/jpeg",
        size=1000,
        status=EvidenceFile.Status.CHECKED,
        phash=value,
        **{f"phash_{i}": chunk for i, chunk in enumerate(chunks)},
    )


@pytest.fixture
def planted(make_claim, shop_a):
    claim = make_claim(shop_a)
    files = {d: index(claim, flip(QUERY, bits)) for d, bits in {**PLANTED, **TOO_FAR}.items()}
    for _ in range(30):  # unrelated pictures
        index(claim, to_signed64(uuid.uuid4().int >> 64))
    return claim, files


def test_every_hash_within_seven_bits_is_found_nearest_first(
    planted, django_assert_max_num_queries
):
    _claim, files = planted

    with django_assert_max_num_queries(2):
        matches = selectors.near_duplicates(phash=QUERY, chunks=list(hash_chunks(QUERY)))

    assert [(f.pk, d) for f, d in matches] == [(files[d].pk, d) for d in PLANTED]
    assert all(hamming_distance(QUERY, f.phash) == d for f, d in matches)
    assert matches[0][0].claim.pk == _claim.pk  # claims come along, no query per file


def test_the_python_verification_agrees_with_the_database(planted, monkeypatch):
    expected = selectors.near_duplicates(phash=QUERY)
    monkeypatch.setattr(selectors, "_distance_in_database", lambda using: False)

    assert selectors.near_duplicates(phash=QUERY) == expected


def test_listing_photos_and_the_file_itself_are_not_candidates(planted, shop_a):
    from merchants.services import product_create

    claim, files = planted
    index(None, QUERY, product=product_create(merchant=shop_a, platform_id="p-1", title="Mug"))

    matches = selectors.near_duplicates(phash=QUERY, exclude_id=files[0].pk)

    assert [d for _f, d in matches] == list(range(1, 8))


def test_limit_keeps_the_nearest_and_breaks_ties_by_id(planted):
    claim, files = planted
    twin = index(claim, QUERY)

    matches = selectors.near_duplicates(phash=QUERY, limit=3)

    assert [(f.pk, d) for f, d in matches] == [(files[0].pk, 0), (twin.pk, 0), (files[1].pk, 1)]


def test_features_are_not_read_by_the_lookup(planted):
    matches = selectors.near_duplicates(phash=QUERY)

    assert "features" in matches[0][0].get_deferred_fields()


@pytest.mark.postgres
def test_on_postgresql_the_database_computes_the_distance(planted, django_assert_num_queries):
    with django_assert_num_queries(2) as captured:
        matches = selectors.near_duplicates(phash=QUERY)

    assert "bit_count" in captured.captured_queries[0]["sql"]
    assert [d for _f, d in matches] == list(PLANTED)
    assert connection.vendor == "postgresql"


def test_a_lookup_without_matches_is_one_query(planted, django_assert_num_queries):
    with django_assert_num_queries(1):
        matches = selectors.near_duplicates(phash=~QUERY)

    assert matches == []


def crop_of(evidence: EvidenceFile, value: int, percent: int = 10) -> CropHash:
    """A stored centred crop's hash (``percent`` off every side)."""
    return CropHash.objects.create(
        evidence=evidence,
        percent=percent,
        top=percent,
        bottom=percent,
        left=percent,
        right=percent,
        phash=value,
        **{f"chunk_{i}": chunk for i, chunk in enumerate(crop_hash_chunks(value))},
    )


@pytest.fixture
def cropped(make_claim, shop_a):
    """Files whose whole-picture hash is far from the query, one of them with a crop hash
    near it, one with crop hashes near and far, one found both ways."""
    claim = make_claim(shop_a)
    far = to_signed64(~QUERY)
    only_crop = index(claim, far)
    crop_of(only_crop, flip(QUERY, [5, 6, 20, 21, 36]), percent=15)
    two_rungs = index(claim, far)
    crop_of(two_rungs, flip(QUERY, TOO_FAR[9]), percent=5)
    crop_of(two_rungs, flip(QUERY, [1, 17]), percent=10)
    both = index(claim, flip(QUERY, [3, 4, 19]))
    crop_of(both, flip(QUERY, [63]), percent=5)
    crop_of(index(claim, far), flip(QUERY, TOO_FAR[8]))  # too far either way
    return {"only_crop": only_crop, "two_rungs": two_rungs, "both": both}


def test_a_file_is_found_through_the_hash_of_its_centred_crop(
    cropped, django_assert_max_num_queries
):
    with django_assert_max_num_queries(2):
        matches = selectors.near_duplicates(phash=QUERY)

    found = [(f.pk, d, f.crop_percent) for f, d in matches]
    assert found == [
        (cropped["both"].pk, 1, 5),  # its nearer hash: the crop's, 1 bit (its own: 3)
        (cropped["two_rungs"].pk, 2, 10),
        (cropped["only_crop"].pk, 5, 15),
    ]


def test_the_whole_picture_wins_a_tie_with_its_crop(make_claim, shop_a):
    file = index(make_claim(shop_a), flip(QUERY, [2]))
    crop_of(file, flip(QUERY, [40]))

    [(match, distance)] = selectors.near_duplicates(phash=QUERY)

    assert (match.pk, distance, match.crop_percent) == (file.pk, 1, 0)


def test_crops_agree_between_the_database_and_python(cropped, planted, monkeypatch):
    expected = [(f.pk, d, f.crop_percent) for f, d in selectors.near_duplicates(phash=QUERY)]
    monkeypatch.setattr(selectors, "_distance_in_database", lambda using: False)

    found = [(f.pk, d, f.crop_percent) for f, d in selectors.near_duplicates(phash=QUERY)]
    assert found == expected
    assert len(found) == len(PLANTED) + 3


def test_the_files_own_crops_are_excluded_with_it(cropped):
    matches = selectors.near_duplicates(phash=QUERY, exclude_id=cropped["only_crop"].pk)

    assert cropped["only_crop"].pk not in [f.pk for f, _d in matches]


# Bits by crop chunk (chunk 0 holds bits 43-63, chunk 1 bits 22-42, chunk 2 bits 0-21):
# 6 bits that leave one chunk only within its probing radius (2, 1 and 1 bits).
CROP_EDGE = {
    "through chunk 0": [63, 62, 42, 41, 21, 20],
    "through chunk 1": [63, 62, 61, 42, 21, 20],
    "through chunk 2": [63, 62, 61, 42, 41, 0],
}


def test_crop_hashes_at_the_edge_of_the_radius_are_found_through_each_chunk(make_claim, shop_a):
    claim = make_claim(shop_a)
    far = to_signed64(~QUERY)
    files = {}
    for name, bits in CROP_EDGE.items():
        files[name] = index(claim, far)
        crop_of(files[name], flip(QUERY, bits))
    # 3, 2 and 2 bits: one past every chunk's radius (never two pHashes' distance: odd)
    crop_of(index(claim, far), flip(QUERY, [63, 62, 61, 42, 41, 1, 0]))

    matches = selectors.near_duplicates(phash=QUERY)

    assert sorted((f.pk, d) for f, d in matches) == sorted((f.pk, 6) for f in files.values())


def lookup_candidates(phash: int, monkeypatch) -> int:
    """How many stored hashes the lookup's chunk conditions select before any distance
    is computed: the rows of its portable form (what Python verifies on SQLite)."""
    sent = []

    def capture(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    monkeypatch.setattr(selectors, "_distance_in_database", lambda using: False)
    with connection.execute_wrapper(capture):
        selectors.near_duplicates(phash=phash)
    monkeypatch.undo()
    sql, params = sent[0]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS candidates", params)  # noqa: S608
        return cursor.fetchone()[0]


def test_crop_hashes_sharing_only_a_16_bit_chunk_are_not_candidates(
    make_claim, shop_a, monkeypatch
):
    # given: 200 crop hashes equal to the query in its top 16 bits, far everywhere else:
    # under 16-bit chunks (as the whole pictures' index) all 200 are read and rejected
    evidence = index(make_claim(shop_a), to_signed64(~QUERY))
    CropHash.objects.bulk_create(
        CropHash(
            evidence=evidence,
            percent=k,
            top=k,
            phash=(value := to_signed64(QUERY ^ ((1 << 48) - 1) ^ k)),
            **{f"chunk_{i}": c for i, c in enumerate(crop_hash_chunks(value))},
        )
        for k in range(200)
    )

    assert lookup_candidates(QUERY, monkeypatch) == 0
    assert selectors.near_duplicates(phash=QUERY) == []
