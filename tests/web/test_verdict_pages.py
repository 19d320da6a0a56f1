"""The photo's verdict beside it: on the merchant's claim page and the reviewer's page,
in both languages, and in the platform API's evidence list."""

from __future__ import annotations

from django.urls import reverse

from tests.web.test_reviewer_pages import _in_review

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def test_merchant_page_shows_the_photos_verdict_with_what_it_proves(client, alice, forged_claim):
    client.force_login(alice)

    html = client.get(reverse("merchant_claim", args=[forged_claim.pk]), **EN).content.decode()

    assert 'data-verdict="edited_copy"' in html
    assert "Edited copy of your photo" in html
    assert "Proves the photo is your own picture with a region changed" in html


def test_merchant_page_shows_the_verdict_in_chinese(client, alice, forged_claim, zh_catalogue):
    client.force_login(alice)

    html = client.get(reverse("merchant_claim", args=[forged_claim.pk]), **ZH).content.decode()

    assert 'data-verdict="edited_copy"' in html
    assert "您的图片的修改副本" in html
    assert "Edited copy of your photo" not in html


def test_review_page_shows_each_photos_verdict(client, alice, charlie, forged_claim):
    _in_review(forged_claim, alice)
    client.force_login(charlie)

    html = client.get(reverse("review_claim", args=[forged_claim.pk]), **EN).content.decode()

    assert html.count('data-verdict="edited_copy"') == 1
    assert "cannot tell who changed it" in html


def test_merchant_page_query_count_does_not_grow_with_verdicts(
    client, alice, forged_claim, django_assert_max_num_queries
):
    client.force_login(alice)
    url = reverse("merchant_claim", args=[forged_claim.pk])
    client.get(url, **EN)

    with django_assert_max_num_queries(40) as captured:
        client.get(url, **EN)

    verdict_queries = [q for q in captured.captured_queries if "evidenceverdict" in q["sql"]]
    assert len(verdict_queries) == 1
