"""The products page at a busy shop's scale: the claims that matched a listing photo are
capped (the newest ten, then how many more), and the page's query count is pinned and
does not grow with the products, their photos or the matches."""

from __future__ import annotations

import pytest
from django.urls import reverse

from evidence.models import Finding

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _copies_of_the_listing_photo(forged_claim, claims):
    """The forged claim's reference-match finding, as if each of ``claims`` had sent a
    copy of the listing photo too."""
    finding = Finding.objects.get(claim=forged_claim, code="reference_copy")
    fields = {f.attname: getattr(finding, f.attname) for f in Finding._meta.concrete_fields}
    del fields["id"]
    Finding.objects.bulk_create([Finding(**{**fields, "claim_id": claim.pk}) for claim in claims])


def test_a_photo_lists_its_ten_newest_matched_claims_and_counts_the_rest(
    client, alice, shop_a, forged_claim, make_claim
):
    others = [make_claim(shop_a) for _ in range(12)]
    _copies_of_the_listing_photo(forged_claim, others)
    client.force_login(alice)

    body = client.get(reverse("merchant_products"), **EN).content.decode()

    for claim in others[-10:]:
        assert reverse("merchant_claim", args=[claim.pk]) in body
    for claim in [forged_claim, *others[:2]]:
        assert reverse("merchant_claim", args=[claim.pk]) not in body
    assert "and 3 more" in body


@pytest.mark.parametrize("products", [1, 6])
def test_the_products_page_query_count_does_not_grow_with_rows(
    client,
    alice,
    shop_a,
    forged_claim,
    make_claim,
    photo_bytes,
    products,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from merchants.services import product_create, product_photos_add

    for n in range(products):  # each with two photos
        product = product_create(merchant=shop_a, platform_id=f"p{n}", title=f"P{n}")
        with django_capture_on_commit_callbacks(execute=True):
            product_photos_add(
                product=product,
                uploads=[
                    (SimpleUploadedFile(f"{n}{k}.jpg", photo_bytes(30 + 2 * n + k)), f"{n}{k}.jpg")
                    for k in range(2)
                ],
                by=alice,
            )
    _copies_of_the_listing_photo(forged_claim, [make_claim(shop_a) for _ in range(products)])
    client.force_login(alice)

    # session, user, the shop, the shops of the switcher, the products, their photos,
    # the matches, the owner check, the bell's count
    with django_assert_num_queries(9):
        response = client.get(reverse("merchant_products"), **EN)

    assert response.status_code == 200
    assert response.content.decode().count("data-photo=") == 1 + 2 * products


@pytest.mark.parametrize("claims", [2, 12])
@pytest.mark.parametrize(
    ("params", "queries"),
    [({}, 8), ({"q": "mug"}, 8), ({"q": "order-shop-a-1"}, 8), ({"sort": "risk"}, 8)],
    ids=["default", "words", "an-order-number", "by-risk"],
)
def test_the_inbox_query_count_is_the_same_for_few_and_many_claims(
    client, alice, shop_a, make_claim, claims, params, queries, django_assert_num_queries
):
    from refunds.models import ClaimStatus, RefundClaim

    made = [make_claim(shop_a) for _ in range(claims)]
    RefundClaim.objects.filter(pk__in=[c.pk for c in made[::2]]).update(
        status=ClaimStatus.IN_REVIEW
    )
    client.force_login(alice)

    # session, user, shops, the page's rows (two sort segments), their order items, the
    # waiting count, the scoring thresholds (one query), the bell's count
    with django_assert_num_queries(queries):
        response = client.get(reverse("merchant_inbox"), params, **EN)

    assert response.status_code == 200
    assert response.content.decode().count('<tr class="') >= 1
