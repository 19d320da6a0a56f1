"""Per-shop status counters (issue 13): the lifecycle keeps them exact through a claim's
creation, every transition, bulk transitions and concurrent ones; compaction folds their
rows; a command verifies and rebuilds them; the inbox reads its "waiting" figure from
them."""

import datetime as dt
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from refunds import lifecycle, selectors, services
from refunds.audit import Actor
from refunds.models import ClaimStatusCount, RefundClaim


def _counts(shop) -> dict[str, int]:
    return selectors.claim_status_counts(shop_ids=[shop.pk])


def _exact() -> bool:
    return lifecycle.counts_differences() == []


def _contest(claim, user):
    return services.claim_merchant_respond(
        claim=claim, user=user, response="contest", statement="Our own listing photo, edited."
    )


def test_a_new_claim_is_counted_and_its_evaluation_moves_the_count(
    make_claim, shop_a, shop_b, django_capture_on_commit_callbacks
):
    # given / when: one claim submitted and left unevaluated, one evaluated
    received = make_claim(shop_a, evaluate=False)
    make_claim(shop_a)

    # then
    assert _counts(shop_a) == {"received": 1, "awaiting_merchant": 1}
    assert _counts(shop_b) == {}
    assert received.status == "received" and _exact()


def test_every_transition_of_a_claims_life_moves_one_count(
    make_claim, shop_a, alice, charlie, dora
):
    claim = make_claim(shop_a)
    steps = [("awaiting_merchant", lambda c: c)]
    steps.append(("in_review", lambda c: _contest(c, alice)))

    def take_and_decide(c):
        services.claim_assign(claim=c, reviewer=charlie)
        return services.claim_decide(
            claim=c, reviewer=charlie, outcome="refund_denied", rationale="Painted-on cracks."
        )

    def appeal(c):
        services.claim_appeal(
            claim=c, filed_by="buyer", reason="The crack is real, look again please."
        )
        return RefundClaim.objects.get(pk=c.pk)

    def decide_appeal(c):
        services.claim_assign(claim=c, reviewer=dora)
        return services.claim_decide(
            claim=c, reviewer=dora, outcome="refund_denied", rationale="Still painted on."
        )

    def close(c):
        return services.claim_close(claim=c, actor=Actor.system("test"))

    steps += [
        ("decided", take_and_decide),
        ("appealed", appeal),
        ("decided", decide_appeal),
        ("closed", close),
    ]
    for expected, step in steps:
        claim = step(claim)
        assert claim.status == expected
        assert _counts(shop_a) == {expected: 1}, expected
        assert _exact()


def test_withdrawing_and_a_buyer_evidence_round_trip_keep_the_counts(
    make_claim, shop_a, alice, charlie
):
    withdrawn = services.claim_withdraw(
        claim=make_claim(shop_a), actor=Actor.platform("test"), reason="Solved with the shop."
    )
    asked = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=asked, reviewer=charlie)
    asked = services.claim_request_buyer_evidence(
        claim=asked, reviewer=charlie, message="Please send an unedited photo."
    )
    assert (withdrawn.status, asked.status) == ("withdrawn", "awaiting_buyer")
    assert _counts(shop_a) == {"withdrawn": 1, "awaiting_buyer": 1}
    services.enforce_deadlines(now=asked.buyer_deadline + dt.timedelta(seconds=1))
    assert _counts(shop_a) == {"withdrawn": 1, "in_review": 1} and _exact()


def test_a_refused_transition_counts_nothing(make_claim, shop_a, alice):
    from refunds.exceptions import IllegalTransition

    claim = services.claim_merchant_respond(claim=make_claim(shop_a), user=alice, response="accept")
    with pytest.raises(IllegalTransition):
        services.claim_appeal(claim=claim, filed_by="buyer", reason="Changed my mind now.")
    assert _counts(shop_a) == {"decided": 1} and _exact()


def test_bulk_transitions_of_the_deadline_sweep_move_every_count_in_one_statement(
    make_claim, shop_a, shop_b
):
    claims = [make_claim(shop) for shop in (shop_a, shop_a, shop_a, shop_b, shop_b)]
    later = max(c.merchant_deadline for c in claims) + dt.timedelta(minutes=1)

    moved = services.enforce_deadlines(now=later, batch_size=2)

    assert moved["merchant_missed"] == 5
    assert _counts(shop_a) == {"in_review": 3} and _counts(shop_b) == {"in_review": 2}
    assert _exact()


def test_transition_many_counts_only_the_claims_it_moved(make_claim, shop_a, alice):
    from django.db import transaction

    stays = services.claim_merchant_respond(claim=make_claim(shop_a), user=alice, response="accept")
    moves = make_claim(shop_a)
    with transaction.atomic():
        batch = list(RefundClaim.objects.select_for_update().filter(pk__in=[stays.pk, moves.pk]))
        moved = lifecycle.transition_many(
            batch, to="withdrawn", actor=Actor.system("test"), action="withdrawn"
        )
    assert [c.pk for c in moved] == [moves.pk]
    assert _counts(shop_a) == {"decided": 1, "withdrawn": 1} and _exact()


def test_transitions_append_rows_and_compaction_folds_them_into_one_per_status(
    make_claim, shop_a, shop_b
):
    from refunds.tasks import claim_status_counts_compact_task

    # given: three claims of shop A evaluated (received +1, then -1 / +1 each)
    for _ in range(3):
        make_claim(shop_a)
    make_claim(shop_b, evaluate=False)
    appended = ClaimStatusCount.objects.filter(merchant=shop_a).count()
    assert appended >= 6  # rows only ever appended

    # when
    written = claim_status_counts_compact_task.delay().get()

    # then: one row per shop and status left, the zeros gone, the figures unchanged
    assert written == 2
    assert list(
        ClaimStatusCount.objects.order_by("merchant_id").values_list(
            "merchant_id", "status", "count"
        )
    ) == [(shop_a.pk, "awaiting_merchant", 3), (shop_b.pk, "received", 1)]
    assert _counts(shop_a) == {"awaiting_merchant": 3} and _exact()
    assert lifecycle.counts_compact() == 2  # compacting again changes nothing


def test_the_command_finds_drifted_counts_and_rebuilds_them(make_claim, shop_a, capsys):
    make_claim(shop_a)
    make_claim(shop_a, evaluate=False)
    call_command("claim_status_counts")
    assert "exact" in capsys.readouterr().out

    # given: a counter changed behind the lifecycle's back
    ClaimStatusCount.objects.create(
        tenant_id=shop_a.tenant_id, merchant=shop_a, status="received", count=6
    )
    with pytest.raises(CommandError, match="1 shop/status counts differ"):
        call_command("claim_status_counts")

    call_command("claim_status_counts", "--rebuild")
    assert _counts(shop_a) == {"received": 1, "awaiting_merchant": 1} and _exact()


def test_the_inbox_waiting_figure_is_read_from_the_counters(
    make_claim, shop_a, shop_b, django_assert_num_queries
):
    make_claim(shop_a)
    make_claim(shop_a)
    make_claim(shop_b)
    with django_assert_num_queries(1) as captured:
        waiting = selectors.merchant_inbox_waiting(shop_ids=[shop_a.pk])
    assert waiting == 2
    assert "refunds_claimstatuscount" in captured.captured_queries[0]["sql"]
    assert "refunds_refundclaim" not in captured.captured_queries[0]["sql"]


def test_the_platform_figure_sums_its_shops_only(make_claim, shop_a):
    from merchants.services import merchant_create, platform_create

    other = platform_create(slug="other", name="Other marketplace")
    their_shop = merchant_create(platform_id="shop-a", name="Their shop", tenant=other)
    make_claim(shop_a)
    make_claim(their_shop, the_buyer=_buyer_of(other))
    assert selectors.claim_status_counts(tenant_id=shop_a.tenant_id) == {"awaiting_merchant": 1}
    assert selectors.claim_status_counts(tenant_id=other.pk) == {"awaiting_merchant": 1}


def _buyer_of(platform):
    return services.buyer_upsert(platform_id="buyer-1", display_name="Li", tenant=platform)


def test_the_migration_backfill_counts_the_claims_there_are(make_claim, shop_a):
    import importlib

    from django.db.backends.base.schema import BaseDatabaseSchemaEditor

    make_claim(shop_a)
    make_claim(shop_a, evaluate=False)
    ClaimStatusCount.objects.all().delete()
    migration = importlib.import_module("refunds.migrations.0018_scale_status_counts")
    migration.backfill(None, BaseDatabaseSchemaEditor(connection))
    assert _counts(shop_a) == {"received": 1, "awaiting_merchant": 1} and _exact()


WRITERS = 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_of_one_shop_keep_the_counts_exact(make_claim, shop_a):
    # given: one shop's claims, all waiting for it
    claims = [make_claim(shop_a) for _ in range(WRITERS * 4)]
    barrier = threading.Barrier(WRITERS)
    errors: list[Exception] = []

    def writer(mine):
        try:
            barrier.wait()
            for claim in mine:
                if claim.pk % 2:
                    services.claim_withdraw(claim=claim, actor=Actor.platform("test"))
                else:
                    lifecycle.transition(
                        claim.pk,
                        to="in_review",
                        actor=Actor.system("test"),
                        action="merchant_deadline_missed",
                    )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    # when: 8 writers move them at once
    threads = [threading.Thread(target=writer, args=(claims[n::WRITERS],)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert errors == []
    withdrawn = sum(1 for c in claims if c.pk % 2)
    assert _counts(shop_a) == {"withdrawn": withdrawn, "in_review": len(claims) - withdrawn}
    assert _exact()
    lifecycle.counts_compact()
    assert _counts(shop_a) == {"withdrawn": withdrawn, "in_review": len(claims) - withdrawn}
    assert _exact()
