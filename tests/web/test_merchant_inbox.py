"""The merchant inbox at scale: search, filters, sorts, the shop switcher, keyset pages
and the query pin. Scoping: a shop's claims never reach another shop's people."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from refunds.models import ClaimStatus, RefundClaim

S = ClaimStatus
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
URL = "/claims/"


def _link(claim) -> str:
    return reverse("merchant_claim", args=[claim.pk])


def _inbox(client, **params) -> str:
    response = client.get(reverse("merchant_inbox"), params, **EN)
    assert response.status_code == 200
    return response.content.decode()


def _order_of_links(html: str, claims) -> list[int]:
    """The claims of ``claims`` in the order the page lists them."""
    found = [(html.find(f'href="{_link(c)}"'), c.pk) for c in claims]
    return [pk for pos, pk in sorted(found) if pos >= 0]


@pytest.fixture
def second_shop_for_alice(alice, django_user_model):
    from merchants.models import Merchant
    from merchants.services import membership_add

    shop = Merchant.objects.create(platform_id="shop-c", name="Shop C 文具")
    membership_add(merchant=shop, user=alice, role="agent")
    return shop


# --- search --------------------------------------------------------------------------


def test_search_finds_a_claim_by_number_order_buyer_and_product(
    client, alice, shop_a, make_claim, make_order, buyer
):
    from refunds.services import buyer_upsert

    mug = make_claim(shop_a)
    other_buyer = buyer_upsert(platform_id="buyer-2", display_name="李四", phone="")
    other = make_claim(shop_a, the_buyer=other_buyer)
    RefundClaim.objects.filter(pk=other.pk).update(platform_id="PLAT-777")
    other.order.items.update(title="蓝牙耳机 Bluetooth earphones")
    client.force_login(alice)

    for query, expected in [
        (f"#{mug.pk}", mug),
        (str(mug.pk), mug),
        ("PLAT-777", other),
        (mug.order.platform_id, mug),
        ("李四", other),
        ("earphones", other),
        ("BLUETOOTH", other),
    ]:
        html = _inbox(client, q=query)
        assert _link(expected) in html, query
        missing = other if expected == mug else mug
        assert _link(missing) not in html, query


def test_search_never_reaches_another_shops_claim(client, bob, shop_a, make_claim):
    claim = make_claim(shop_a)
    client.force_login(bob)

    for query in (f"#{claim.pk}", claim.order.platform_id, "张三", "Ceramic"):
        assert _link(claim) not in _inbox(client, q=query)


# --- filters -------------------------------------------------------------------------


def test_filters_status_risk_reason_deadline_and_signals(
    client, alice, shop_a, make_claim, forged_claim
):
    plain = make_claim(shop_a)
    RefundClaim.objects.filter(pk=plain.pk).update(
        risk_score=5,
        reason="not_received",
        merchant_deadline=timezone.now() + dt.timedelta(hours=40),
    )
    RefundClaim.objects.filter(pk=forged_claim.pk).update(
        merchant_deadline=timezone.now() + dt.timedelta(hours=3)
    )
    forged_claim.refresh_from_db()
    assert forged_claim.risk_score and forged_claim.risk_score >= 50
    decided = make_claim(shop_a)
    RefundClaim.objects.filter(pk=decided.pk).update(status=S.IN_REVIEW, risk_score=None)
    client.force_login(alice)

    cases = [
        ({"status": S.IN_REVIEW}, {decided}),
        ({"status": S.AWAITING_MERCHANT}, {plain, forged_claim}),
        ({"risk": "high"}, {forged_claim}),
        ({"risk": "low"}, {plain}),
        ({"risk": "pending"}, {decided}),
        ({"reason": "not_received"}, {plain}),
        ({"due": "on"}, {forged_claim}),
        ({"signals": "on"}, {forged_claim}),
        ({"signals": "on", "reason": "not_received"}, set()),
    ]
    everything = {plain, forged_claim, decided}
    for params, expected in cases:
        html = _inbox(client, **params)
        for claim in everything:
            assert (_link(claim) in html) == (claim in expected), (params, claim.pk)


# --- sorts ---------------------------------------------------------------------------


@pytest.fixture
def three_claims(shop_a, make_claim):
    """Two claims waiting for the shop (the later-made one due sooner) and one in review."""
    now = timezone.now()
    late = make_claim(shop_a, amount=Decimal("50.00"))
    soon = make_claim(shop_a, amount=Decimal("10.00"))
    answered = make_claim(shop_a, amount=Decimal("150.00"))
    RefundClaim.objects.filter(pk=late.pk).update(
        merchant_deadline=now + dt.timedelta(hours=30), risk_score=20
    )
    RefundClaim.objects.filter(pk=soon.pk).update(
        merchant_deadline=now + dt.timedelta(hours=2), risk_score=90
    )
    RefundClaim.objects.filter(pk=answered.pk).update(status=S.IN_REVIEW, risk_score=None)
    return late, soon, answered


def test_default_sort_puts_waiting_claims_first_soonest_deadline_first(client, alice, three_claims):
    late, soon, answered = three_claims
    client.force_login(alice)

    html = _inbox(client)

    assert _order_of_links(html, three_claims) == [soon.pk, late.pk, answered.pk]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("amount", (2, 0, 1)), ("risk", (1, 0, 2)), ("date", (2, 1, 0))],
)
def test_sorts_by_amount_risk_and_date(client, alice, three_claims, sort, expected):
    client.force_login(alice)

    html = _inbox(client, sort=sort)

    assert _order_of_links(html, three_claims) == [three_claims[i].pk for i in expected]


# --- keyset pages --------------------------------------------------------------------


def _walk(client, params) -> tuple[list[int], list[str]]:
    """Follow the "next page" links from the first page; the claim ids seen, in order,
    and every SQL statement run."""
    import re

    seen, sql, pages = [], [], 0
    url = reverse("merchant_inbox") + "?" + "&".join(f"{k}={v}" for k, v in params.items())
    while url:
        with CaptureQueriesContext(connection) as queries:
            html = client.get(url, **EN).content.decode()
        sql.extend(q["sql"] for q in queries.captured_queries)
        seen.extend(int(pk) for pk in re.findall(r'<a class="title" href="/claims/(\d+)/"', html))
        match = re.search(r'rel="next" href="([^"]+)"', html)
        url = reverse("merchant_inbox") + match.group(1).replace("&amp;", "&") if match else ""
        pages += 1
        assert pages < 20, "the pages never end"
    return seen, sql


@pytest.mark.parametrize("sort", ["deadline", "amount", "risk", "date"])
def test_pages_follow_the_cursor_keep_filters_and_use_no_offset(
    client, alice, shop_a, make_claim, monkeypatch, sort
):
    monkeypatch.setattr("refunds.views.merchant.INBOX_PAGE_SIZE", 3)
    claims = [make_claim(shop_a, amount=Decimal(f"{10 + i % 3}.00")) for i in range(8)]
    # Some answered (the second segment of the deadline sort), some not scored.
    RefundClaim.objects.filter(pk__in=[c.pk for c in claims[:3]]).update(status=S.IN_REVIEW)
    RefundClaim.objects.filter(pk__in=[c.pk for c in claims[2:5]]).update(risk_score=None)
    client.force_login(alice)

    seen, sql = _walk(client, {"sort": sort, "reason": "damaged"})

    assert sorted(seen) == sorted(c.pk for c in claims)  # each claim once, none lost
    assert len(seen) == len(set(seen))
    assert not [q for q in sql if " OFFSET " in q.upper()]
    assert not [q for q in sql if "COUNT(*)" in q.upper() and "awaiting_merchant" not in q]


def test_next_page_link_keeps_the_filters(client, alice, shop_a, make_claim, monkeypatch):
    monkeypatch.setattr("refunds.views.merchant.INBOX_PAGE_SIZE", 2)
    for _ in range(3):
        make_claim(shop_a)
    client.force_login(alice)

    html = _inbox(client, q="Ceramic", risk="low", sort="amount")

    assert 'rel="next"' in html
    next_link = html.split('rel="next" href="', 1)[1].split('"', 1)[0]
    for kept in ("q=Ceramic", "risk=low", "sort=amount", "cursor="):
        assert kept in next_link


def test_a_forged_cursor_starts_again_at_the_top(client, alice, shop_a, make_claim):
    claim = make_claim(shop_a)
    client.force_login(alice)

    assert _link(claim) in _inbox(client, cursor="not-a-cursor!!")


# --- shop switcher -------------------------------------------------------------------


def test_switcher_lists_all_shops_by_default_with_a_shop_column(
    client, alice, shop_a, second_shop_for_alice, make_claim
):
    in_a = make_claim(shop_a)
    in_c = make_claim(second_shop_for_alice)
    client.force_login(alice)

    html = _inbox(client)

    assert _link(in_a) in html and _link(in_c) in html
    assert 'data-testid="shop-switcher"' in html
    assert '<td class="shop">Shop C 文具</td>' in html


def test_switcher_shows_one_shop_and_remembers_it(
    client, alice, shop_a, second_shop_for_alice, make_claim
):
    in_a = make_claim(shop_a)
    in_c = make_claim(second_shop_for_alice)
    client.force_login(alice)

    chosen = _inbox(client, shop=second_shop_for_alice.pk)
    remembered = _inbox(client)
    back_to_all = _inbox(client, shop="all")

    assert _link(in_c) in chosen and _link(in_a) not in chosen
    assert _link(in_c) in remembered and _link(in_a) not in remembered
    assert _link(in_a) in back_to_all and _link(in_c) in back_to_all


def test_switcher_cannot_select_a_shop_the_user_does_not_act_for(
    client, alice, bob, shop_a, shop_b, make_claim
):
    make_claim(shop_b)
    client.force_login(alice)

    for shop in (shop_b.pk, "999999", "x"):
        assert client.get(reverse("merchant_inbox"), {"shop": shop}).status_code == 404
    assert _link(make_claim(shop_a)) in _inbox(client)  # nothing remembered of it


def test_merchant_b_never_sees_shop_a_claims_whatever_the_filters(client, bob, shop_a, make_claim):
    claim = make_claim(shop_a)
    client.force_login(bob)

    for params in ({}, {"sort": "amount"}, {"sort": "risk"}, {"due": "on"}, {"shop": "all"}):
        assert _link(claim) not in _inbox(client, **params)


# --- query pin -----------------------------------------------------------------------


@pytest.mark.parametrize("claims", [2, 12])
def test_inbox_query_count_does_not_grow_with_claims(
    client, alice, shop_a, second_shop_for_alice, make_claim, django_assert_max_num_queries, claims
):
    for i in range(claims):
        make_claim(shop_a if i % 2 else second_shop_for_alice)
    RefundClaim.objects.filter(merchant=shop_a).update(status=S.IN_REVIEW)
    client.force_login(alice)

    # session, user, shops, page rows (two sort segments), order items, waiting count,
    # two scoring thresholds, the session save
    with django_assert_max_num_queries(10):
        response = client.get(reverse("merchant_inbox"), {"q": "mug"}, **EN)
    assert response.status_code == 200
