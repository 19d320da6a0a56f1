import cv2
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from evidence import hashing
from testing import synthetic
from tests.evidence.checks.conftest_visual import decoded

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def test_phash_survives_resize_and_recompression():
    photo = synthetic.render_product_photo(1).image
    small = cv2.resize(photo, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    recompressed, _ = synthetic.degrade(photo, jpeg_quality=70)

    base = hashing.phash(photo)

    assert hashing.hamming_distance(base, hashing.phash(small)) <= 4
    assert hashing.hamming_distance(base, hashing.phash(recompressed)) <= 4
    assert hashing.hamming_distance(hashing.dhash(photo), hashing.dhash(small)) <= 6


def test_phash_tells_different_products_apart():
    hashes = [hashing.phash(synthetic.render_product_photo(seed).image) for seed in range(6)]

    distances = [
        hashing.hamming_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]
    ]

    assert min(distances) >= 10


def test_hashes_are_signed_int64_and_identical_across_input_types():
    photo = synthetic.render_product_photo(2).image
    image = decoded(photo, quality=100)
    pil = Image.fromarray(image.working[:, :, ::-1])

    from_decoded = hashing.phash(image)

    assert from_decoded == hashing.phash(image.working) == hashing.phash(pil)
    for value in (from_decoded, hashing.dhash(image)):
        assert isinstance(value, int)
        assert INT64_MIN <= value <= INT64_MAX


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_signed_unsigned_round_trip(value):
    signed = hashing.to_signed64(value)

    assert INT64_MIN <= signed <= INT64_MAX
    assert hashing.to_unsigned64(signed) == value
    assert hashing.hamming_distance(signed, value) == 0


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_chunks_reassemble_the_hash(value):
    chunks = hashing.hash_chunks(hashing.to_signed64(value))

    assert len(chunks) == 4
    assert all(0 <= c <= 0xFFFF for c in chunks)
    assert (chunks[0] << 48 | chunks[1] << 32 | chunks[2] << 16 | chunks[3]) == value


@given(
    st.integers(min_value=0, max_value=(1 << 64) - 1),
    st.sets(st.integers(min_value=0, max_value=63), max_size=hashing.GUARANTEED_RADIUS),
)
def test_hashes_within_radius_three_share_a_chunk(value, flipped_bits):
    other = value
    for bit in flipped_bits:
        other ^= 1 << bit

    shared = [
        a == b for a, b in zip(hashing.hash_chunks(value), hashing.hash_chunks(other), strict=True)
    ]

    assert hashing.hamming_distance(value, other) == len(flipped_bits)
    assert any(shared)


def test_radius_four_is_not_guaranteed():
    value = 0
    other = (1 << 0) | (1 << 16) | (1 << 32) | (1 << 48)  # one bit in every chunk

    shared = [
        a == b for a, b in zip(hashing.hash_chunks(value), hashing.hash_chunks(other), strict=True)
    ]

    assert hashing.hamming_distance(value, other) == 4
    assert not any(shared)


def test_hamming_distance_counts_bits_of_signed_values():
    assert hashing.hamming_distance(-1, 0) == 64
    assert hashing.hamming_distance(hashing.to_signed64(1 << 63), 0) == 1
    assert hashing.hamming_distance(0b1011, 0b0001) == 2


def test_flat_pictures_are_low_information():
    flat = np.full((300, 400, 3), 200, np.uint8)

    assert hashing.is_low_information(flat)
    assert not hashing.is_low_information(synthetic.render_product_photo(3).image)


def test_mirrored_phash_is_the_phash_of_the_flipped_picture():
    photo = synthetic.render_product_photo(4).image
    mirrored = decoded(np.ascontiguousarray(photo[:, ::-1]), quality=100)

    assert hashing.mirrored_phash(photo) == hashing.phash(np.ascontiguousarray(photo[:, ::-1]))
    assert hashing.hamming_distance(hashing.mirrored_phash(mirrored), hashing.phash(photo)) <= 2
    assert hashing.hamming_distance(hashing.phash(mirrored), hashing.phash(photo)) > 7


@given(
    st.integers(min_value=0, max_value=(1 << 64) - 1),
    st.sets(st.integers(min_value=0, max_value=63), max_size=hashing.INDEX_RADIUS),
)
def test_hashes_within_the_index_radius_have_a_chunk_at_most_one_bit_apart(value, flipped_bits):
    other = value
    for bit in flipped_bits:
        other ^= 1 << bit

    chunk_distances = [
        (a ^ b).bit_count()
        for a, b in zip(hashing.hash_chunks(value), hashing.hash_chunks(other), strict=True)
    ]

    assert min(chunk_distances) <= 1


def test_radius_eight_is_beyond_one_bit_probing():
    other = sum(1 << (16 * chunk + bit) for chunk in range(4) for bit in (0, 1))

    chunk_distances = [
        (a ^ b).bit_count()
        for a, b in zip(hashing.hash_chunks(0), hashing.hash_chunks(other), strict=True)
    ]

    assert hashing.hamming_distance(0, other) == hashing.INDEX_RADIUS + 1
    assert min(chunk_distances) == 2


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_crop_chunks_reassemble_the_hash(value):
    chunks = hashing.crop_hash_chunks(hashing.to_signed64(value))

    assert all(c.bit_length() <= bits for c, bits in zip(chunks, (21, 21, 22), strict=True))
    assert (chunks[0] << 43 | chunks[1] << 22 | chunks[2]) == value


def test_crop_chunk_probes_enumerate_each_chunks_radius():
    probes = hashing.crop_chunk_probes(hashing.to_signed64(0xF0E1_D2C3_B4A5_9687))

    # 1 + 21 + 210, 1 + 21 and 1 + 22: constant, whatever the number of rows
    assert [len(p) for p in probes] == [232, 22, 23]
    assert all(len(set(p)) == len(p) for p in probes)


@given(
    st.integers(min_value=0, max_value=(1 << 64) - 1),
    st.sets(st.integers(min_value=0, max_value=63), max_size=hashing.CROP_INDEX_RADIUS),
)
def test_a_crop_hash_within_the_crop_radius_is_among_one_chunks_probes(value, flipped_bits):
    other = value
    for bit in flipped_bits:
        other ^= 1 << bit

    probes = hashing.crop_chunk_probes(hashing.to_signed64(value))
    stored = hashing.crop_hash_chunks(hashing.to_signed64(other))

    assert any(c in p for c, p in zip(stored, probes, strict=True))


def test_seven_bits_are_beyond_the_crop_chunks_probes():
    # 3, 2 and 2 bits in the three chunks: one past each chunk's probing radius
    other = sum(1 << bit for bit in (63, 62, 61, 42, 41, 1, 0))

    probes = hashing.crop_chunk_probes(0)
    stored = hashing.crop_hash_chunks(other)

    assert hashing.hamming_distance(0, other) == hashing.CROP_INDEX_RADIUS + 1
    assert not any(c in p for c, p in zip(stored, probes, strict=True))


def test_phashes_have_32_bits_set_so_their_distances_are_even():
    # What lets the crop index stop at 6 bits: no two pHashes are 7 apart.
    hashes = []
    for seed in range(6):
        photo = synthetic.render_product_photo(seed).image
        hashes += [hashing.phash(photo), *(value for _box, value in hashing.crop_hashes(photo))]

    assert {hashing.to_unsigned64(value).bit_count() for value in hashes} == {32}
    assert all(hashing.hamming_distance(hashes[0], value) % 2 == 0 for value in hashes)
