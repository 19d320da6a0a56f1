"""The products and reference photos page: the owner adds, replaces and retires several
photos at once; the agent sees it read-only and the service refuses them; each photo's
check status and the claims that matched it are shown; other shops are 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from evidence.models import EvidenceFile
from refunds.exceptions import NotAllowed

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _page(client, **params):
    return client.get(reverse("merchant_products"), params, **EN)


def test_owner_adds_several_photos_at_once(
    client, alice, listing_product, upload, django_capture_on_commit_callbacks
):
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("merchant_product_photos", args=[listing_product.pk]),
            {"files": [upload("front.jpg", 1), upload("back.jpg", 2)]},
            **EN,
        )

    assert response.status_code == 302
    names = set(listing_product.photos.values_list("original_name", flat=True))
    assert {"front.jpg", "back.jpg"} <= names
    page = _page(client).content.decode()
    assert "front.jpg" in page and "back.jpg" in page
    assert page.count('data-check-status="checked"') == 3  # the fixture's photo too


def test_one_refused_photo_keeps_none_of_the_batch_and_names_it(
    client, alice, listing_product, upload
):
    client.force_login(alice)
    before = EvidenceFile.objects.count()

    response = client.post(
        reverse("merchant_product_photos", args=[listing_product.pk]),
        {"files": [upload("good.jpg", 3), upload("notes.jpg", data=b"not a picture")]},
        **EN,
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "notes.jpg: This file is not a JPEG, PNG, WebP, HEIC or AVIF image." in body
    assert "Nothing was changed" in body
    assert EvidenceFile.objects.count() == before  # good.jpg was not half-kept


def test_picking_an_attached_photo_again_is_no_error(
    client, alice, listing_product, upload, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    url = reverse("merchant_product_photos", args=[listing_product.pk])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"files": [upload("a.jpg", 4)]}, **EN)

    response = client.post(
        url, {"files": [upload("a.jpg", 4), upload("b.jpg", 5)]}, follow=True, **EN
    )

    assert response.status_code == 200
    assert "Already attached (nothing to do): a.jpg" in response.content.decode()
    assert listing_product.photos.filter(original_name="a.jpg").count() == 1
    assert listing_product.photos.filter(original_name="b.jpg").count() == 1


def test_owner_retires_several_photos_which_are_kept_but_no_longer_references(
    client, alice, listing_product, upload, make_order, shop_a, django_capture_on_commit_callbacks
):
    from evidence.selectors import reference_files_for_order

    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("merchant_product_photos", args=[listing_product.pk]),
            {"files": [upload("x.jpg", 6), upload("y.jpg", 7)]},
        )
    ids = list(listing_product.photos.values_list("pk", flat=True))
    assert len(ids) == 3

    response = client.post(
        reverse("merchant_product_retire", args=[listing_product.pk]), {"photo": ids[:2]}, **EN
    )

    assert response.status_code == 302
    retired = EvidenceFile.objects.filter(pk__in=ids[:2])
    assert retired.count() == 2 and all(p.retired_at for p in retired)  # kept, marked
    order = make_order(shop_a, product=listing_product)
    assert set(reference_files_for_order(order=order).values_list("pk", flat=True)) == {ids[2]}
    assert _page(client).content.decode().count("Retired: no longer a reference") == 2


def test_retiring_is_recorded_in_the_files_custody(client, alice, listing_product):
    from refunds import audit

    client.force_login(alice)
    photo = listing_product.photos.get()

    client.post(
        reverse("merchant_product_retire", args=[listing_product.pk]), {"photo": [photo.pk]}
    )

    assert (
        audit.custody_events(evidence_ids=[photo.pk]).filter(action="evidence_retired").count() == 1
    )


def test_owner_replaces_a_photo_the_old_one_retired_in_the_same_step(
    client, alice, listing_product, upload, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    old = listing_product.photos.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("merchant_product_photo_replace", args=[old.pk]), {"file": upload("new.jpg", 8)}
        )

    assert response.status_code == 302
    old.refresh_from_db()
    assert old.retired_at is not None
    current = listing_product.photos.filter(retired_at__isnull=True).get()
    assert current.original_name == "new.jpg"


def test_a_refused_replacement_leaves_the_old_photo_in_use(client, alice, listing_product, upload):
    client.force_login(alice)
    old = listing_product.photos.get()

    response = client.post(
        reverse("merchant_product_photo_replace", args=[old.pk]),
        {"file": upload("bad.jpg", data=b"nope")},
        **EN,
    )

    assert response.status_code == 400
    assert "bad.jpg: This file is not a JPEG" in response.content.decode()
    old.refresh_from_db()
    assert old.retired_at is None
    assert listing_product.photos.count() == 1


def test_agent_sees_the_page_read_only(client, agnes, listing_product):
    client.force_login(agnes)

    body = _page(client).content.decode()

    assert "You see them read-only" in body
    assert "data-upload-form" not in body
    assert reverse("merchant_product_retire", args=[listing_product.pk]) not in body


def test_agent_is_refused_by_the_service_and_by_the_page(client, agnes, listing_product, upload):
    from merchants.services import product_photos_add, product_photos_retire

    with pytest.raises(NotAllowed):
        product_photos_add(product=listing_product, uploads=[(upload("a.jpg"), "a.jpg")], by=agnes)
    with pytest.raises(NotAllowed):
        product_photos_retire(
            product=listing_product, photo_ids=[listing_product.photos.get().pk], by=agnes
        )
    client.force_login(agnes)
    response = client.post(
        reverse("merchant_product_photos", args=[listing_product.pk]),
        {"files": [upload("a.jpg", 9)]},
        **EN,
    )
    assert response.status_code == 400
    assert "Only an owner of the shop can manage its products." in response.content.decode()
    assert listing_product.photos.count() == 1


def test_each_photo_lists_the_claims_that_matched_it(client, alice, forged_claim, listing_product):
    client.force_login(alice)

    body = _page(client).content.decode()

    assert "Matched by claims:" in body
    assert reverse("merchant_claim", args=[forged_claim.pk]) in body


def test_the_page_shows_the_selected_shop_of_a_person_of_several_shops(
    client, alice, bob, shop_b, listing_product
):
    from merchants.services import membership_add, product_create

    membership_add(merchant=shop_b, user=alice, role="agent", by=bob)
    product_create(merchant=shop_b, platform_id="case-b", title="Phone case B")
    client.force_login(alice)

    first = _page(client, shop=listing_product.merchant_id).content.decode()
    second = _page(client, shop=shop_b.pk).content.decode()

    assert "Nordic mug" in first and "Phone case B" not in first
    assert "Phone case B" in second and "Nordic mug" not in second
    assert "You see them read-only" in second  # an agent there


def test_another_shops_products_and_photos_are_404(client, bob, listing_product, upload, shop_a):
    client.force_login(bob)
    photo = listing_product.photos.get()

    assert _page(client, shop=shop_a.pk).status_code == 404
    assert _page(client, shop="x").status_code == 404
    for url, data in (
        (
            reverse("merchant_product_photos", args=[listing_product.pk]),
            {"files": [upload("a.jpg")]},
        ),
        (reverse("merchant_product_retire", args=[listing_product.pk]), {"photo": [photo.pk]}),
        (reverse("merchant_product_photo_replace", args=[photo.pk]), {"file": upload("b.jpg")}),
    ):
        assert client.post(url, data).status_code == 404
    photo.refresh_from_db()
    assert photo.retired_at is None and listing_product.photos.count() == 1


def test_the_products_page_has_a_pinned_query_count(
    client,
    alice,
    listing_product,
    upload,
    django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
):
    from merchants.services import product_create, product_photos_add

    for n in range(5):
        product = product_create(
            merchant=listing_product.merchant, platform_id=f"p{n}", title=f"P{n}"
        )
        product_photos_add(
            product=product, uploads=[(upload(f"{n}.jpg", 20 + n), f"{n}.jpg")], by=alice
        )
    client.force_login(alice)

    with django_assert_max_num_queries(12):
        response = _page(client)

    assert response.status_code == 200


def test_the_upload_script_is_told_where_to_go_next(
    client, alice, listing_product, upload, django_capture_on_commit_callbacks
):
    """upload.js cannot stop its request from following a redirect (it would swallow
    the next page's messages): it gets a 204 naming the page instead."""
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("merchant_product_photos", args=[listing_product.pk]),
            {"files": [upload("xhr.jpg", 12)]},
            headers={"X-Requested-With": "XMLHttpRequest"},
        )

    assert response.status_code == 204
    assert response["X-Upload-Redirect"] == (
        f"{reverse('merchant_products')}?shop={listing_product.merchant_id}"
    )
    assert listing_product.photos.filter(original_name="xhr.jpg").exists()
