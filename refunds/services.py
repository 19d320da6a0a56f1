"""Business actions on buyers, orders and claims. Views, the admin, the API, management
commands and Celery tasks all call these; nothing else changes a claim.

Each function validates first, then writes in one short transaction; status changes go
through :func:`refunds.lifecycle.transition` (lock, legality, audit, webhook). Who may do
what is :mod:`refunds.policy`: each action asks it on the claim row it has just locked and
raises on a refusal (:func:`refunds.policy.enforce`).

Lock order, the same on every path (so two of them can never wait for each other):

1. the claim row (``SELECT … FOR UPDATE``; ``claim_take_next`` and the lease sweep with
   ``SKIP LOCKED``);
2. then the claim's assignments (read, inserted or released only under the claim lock;
   the claim's ``held_by`` is written with them);
3. then the audit chain's lock, taken by :func:`refunds.audit.record` last.

No function locks an assignment, or appends to the audit chain, before it holds the
claim it concerns. Two additions that cannot close a cycle: taking a claim first takes
the reviewer's own lease lock (held by nobody else, before any claim:
``_lock_reviewer_leases``), and a lease renewal is a single UPDATE of an assignment
that waits for nothing while it holds that row (:func:`claim_lease_renew`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.models import default_platform_pk
from refunds import audit, lifecycle, outbound, policy, routing, webhooks
from refunds.audit import Actor
from refunds.exceptions import (
    AlreadyExists,
    ClaimError,
    ClaimValidationError,
    ConfirmationRequired,
    NotAllowed,
    NothingToReview,
)
from refunds.models import (
    Appeal,
    Assignment,
    Buyer,
    ClaimStatus,
    Decision,
    EvidenceRequest,
    Order,
    OrderItem,
    Outcome,
    PhotoVerdict,
    RationaleTemplate,
    RefundClaim,
    ReviewerPhotoVerdict,
    ReviewQueue,
    RoutingRecord,
    WebhookEndpoint,
)
from refunds.selectors import QueueToServe, take_next_reads

S = ClaimStatus
log = logging.getLogger(__name__)
APPEALS_QUEUE_SLUG = "appeals"


def _rules() -> dict[str, int]:
    return settings.CLAIMLENS


def _hours(name: str) -> dt.timedelta:
    return dt.timedelta(hours=_rules()[name])


# --- Buyers and orders ----------------------------------------------------------------


@dataclass(frozen=True)
class BuyerInput:
    platform_id: str
    display_name: str
    phone: str = ""
    account_created_at: dt.datetime | None = None


def buyer_upsert(
    *,
    platform_id: str,
    display_name: str,
    account_created_at=None,
    phone: str = "",
    tenant=None,
) -> Buyer:
    """Create the buyer or update its display data; the platform id is the identity on
    its platform (``tenant``; the default platform when not given), so another
    platform's buyer with the same id is another buyer. Orders keep their own copy of
    the contact data (:func:`order_create`)."""
    given = BuyerInput(platform_id, display_name, phone, account_created_at)
    return buyers_upsert(buyers=[given], tenant=tenant)[platform_id]


def buyers_upsert(*, buyers: list[BuyerInput], tenant=None) -> dict[str, Buyer]:
    """:func:`buyer_upsert` for several buyers of one platform: one read, one INSERT of
    the new ones, one UPDATE per buyer whose display data changed. Returns the buyers by
    platform id."""
    tenant_id = default_platform_pk() if tenant is None else getattr(tenant, "pk", tenant)
    wanted: dict[str, BuyerInput] = {}
    for given in buyers:  # one buyer named twice: what the later one gives wins
        before = wanted.get(given.platform_id)
        wanted[given.platform_id] = (
            given
            if before is None
            else BuyerInput(
                given.platform_id,
                given.display_name or before.display_name,
                given.phone or before.phone,
                given.account_created_at or before.account_created_at,
            )
        )
    found = {
        b.platform_id: b
        for b in Buyer.objects.filter(tenant_id=tenant_id, platform_id__in=list(wanted))
    }
    new = [
        Buyer(tenant_id=tenant_id, platform_id=b.platform_id, **_contact(b))
        for b in wanted.values()
        if b.platform_id not in found
    ]
    new_ids: set[str] = set()
    if new:
        try:
            with transaction.atomic():
                Buyer.objects.bulk_create(new)
            new_ids = {b.platform_id for b in new}
            found.update({b.platform_id: b for b in new})
        except IntegrityError:
            # Another request created one of them meanwhile: one by one then, each as
            # get_or_create (which reads the one that won).
            for buyer in new:
                found[buyer.platform_id], created = Buyer.objects.get_or_create(
                    tenant_id=tenant_id,
                    platform_id=buyer.platform_id,
                    defaults=_contact(wanted[buyer.platform_id]),
                )
                if created:
                    new_ids.add(buyer.platform_id)
    for platform_id, given in wanted.items():
        buyer = found[platform_id]
        if platform_id in new_ids:
            continue
        changed = {
            name: value
            for name, value in _contact(given).items()
            if value and getattr(buyer, name) != value
        }
        if changed:
            Buyer.objects.filter(pk=buyer.pk).update(**changed)
            for name, value in changed.items():
                setattr(buyer, name, value)
    return found


def _contact(given: BuyerInput) -> dict[str, Any]:
    return {
        "display_name": given.display_name,
        "account_created_at": given.account_created_at,
        "phone": given.phone,
    }


@dataclass(frozen=True)
class ItemInput:
    title: str
    unit_price: Decimal
    quantity: int = 1
    product: Any = None


@dataclass(frozen=True)
class OrderInput:
    """An order as a platform reports it; ``buyer`` inline for :func:`claims_ingest`
    (:func:`order_create` takes the buyer recorded before)."""

    merchant: Any
    platform_id: str
    items: list[ItemInput]
    paid_at: dt.datetime
    shipped_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    total_amount: Decimal | None = None
    shipping_address: str = ""
    buyer: BuyerInput | None = None


def _order_total(given: OrderInput, *, tenant_id: int) -> Decimal:
    """The rules of a new order of a buyer of platform ``tenant_id`` (raises
    :class:`ClaimValidationError`); its total."""
    merchant, items = given.merchant, given.items
    if tenant_id != merchant.tenant_id:
        raise ClaimValidationError(_("The buyer and the shop belong to different platforms."))
    if not items:
        raise ClaimValidationError(_("An order needs at least one item."))
    for item in items:
        if item.quantity < 1 or item.unit_price < 0:
            raise ClaimValidationError(_("Item quantities must be ≥ 1 and prices ≥ 0."))
        if item.product is not None and item.product.merchant_id != merchant.pk:
            raise ClaimValidationError(_("An item's product belongs to another shop."))
    items_total = sum((i.unit_price * i.quantity for i in items), Decimal("0"))
    total = items_total if given.total_amount is None else given.total_amount
    if total < 0:
        raise ClaimValidationError(_("The order total cannot be negative."))
    shipped_at, delivered_at = given.shipped_at, given.delivered_at
    if shipped_at and shipped_at < given.paid_at:
        raise ClaimValidationError(_("An order cannot ship before it is paid."))
    if delivered_at and (not shipped_at or delivered_at < shipped_at):
        raise ClaimValidationError(_("An order cannot be delivered before it ships."))
    return total


def _new_order(given: OrderInput, *, buyer: Buyer, total: Decimal, name: str, phone: str) -> Order:
    return Order(
        merchant=given.merchant,
        buyer=buyer,
        platform_id=given.platform_id,
        total_amount=total,
        paid_at=given.paid_at,
        shipped_at=given.shipped_at,
        delivered_at=given.delivered_at,
        shipping_address=given.shipping_address,
        buyer_name=name,
        buyer_phone=phone,
    )


def _orders_insert(orders: list[tuple[Order, list[ItemInput]]]) -> None:
    """Insert checked orders and their items (two statements whatever their number); each
    order comes back with its items loaded (``order.items.all()`` reads no row)."""
    Order.objects.bulk_create([order for order, _items in orders])
    rows = {
        order.pk: [
            OrderItem(
                order=order,
                product=i.product,
                title=i.title,
                quantity=i.quantity,
                unit_price=i.unit_price,
            )
            for i in items
        ]
        for order, items in orders
    }
    OrderItem.objects.bulk_create([row for order_rows in rows.values() for row in order_rows])
    for order, _items in orders:
        loaded = order.items.all()
        loaded._result_cache, loaded._prefetch_done = rows[order.pk], True
        order._prefetched_objects_cache = {"items": loaded}


def order_create(
    *,
    merchant,
    buyer: Buyer,
    platform_id: str,
    items: list[ItemInput],
    paid_at: dt.datetime,
    shipped_at: dt.datetime | None = None,
    delivered_at: dt.datetime | None = None,
    total_amount: Decimal | None = None,
    shipping_address: str = "",
    buyer_name: str | None = None,
    buyer_phone: str | None = None,
) -> Order:
    """Record an order. The total defaults to the sum of its items and may not be less.
    The order keeps the buyer's name and phone as given with it (by default the buyer's
    at this moment): later orders and later changes of the buyer never rewrite it. The
    buyer and the shop must be of one platform."""
    given = OrderInput(
        merchant=merchant,
        platform_id=platform_id,
        items=items,
        paid_at=paid_at,
        shipped_at=shipped_at,
        delivered_at=delivered_at,
        total_amount=total_amount,
        shipping_address=shipping_address,
    )
    order = _new_order(
        given,
        buyer=buyer,
        total=_order_total(given, tenant_id=buyer.tenant_id),
        name=buyer.display_name if buyer_name is None else buyer_name,
        phone=buyer.phone if buyer_phone is None else buyer_phone,
    )
    try:
        with transaction.atomic():
            _orders_insert([(order, items)])
    except IntegrityError as exc:
        raise AlreadyExists(
            _("An order with this platform id already exists for this shop.")
        ) from exc
    return order


# --- Claims -----------------------------------------------------------------------------


def _claim_checked(*, amount: Decimal, order_total: Decimal) -> None:
    """The rules of a new claim that need no database read."""
    if amount <= 0:
        raise ClaimValidationError(_("The amount claimed must be more than zero."))
    if amount > order_total:
        raise ClaimValidationError(
            _("The amount claimed (¥%(amount)s) is more than the order total (¥%(total)s).")
            % {"amount": amount, "total": order_total}
        )


def _new_claim(*, order: Order, amount, reason, description, platform_id) -> RefundClaim:
    return RefundClaim(
        order=order,
        merchant=order.merchant,
        buyer_id=order.buyer_id,
        tenant_id=order.merchant.tenant_id,
        platform_id=platform_id,
        amount=amount,
        order_total=order.total_amount,
        reason=reason,
        description=description,
        status=S.RECEIVED,
    )


EVALUATION_CHUNK = 20


def _claims_insert(claims: list[RefundClaim], *, actor: Actor) -> None:
    """Everything a claim's arrival writes, for checked new claims, in the caller's
    transaction and in a fixed number of statements: the claims, their count in the
    status counters, the first event of each claim's audit chain, the ``claim.received``
    webhooks; their evaluation is enqueued after the commit (``EVALUATION_CHUNK`` claims
    a message)."""
    RefundClaim.objects.bulk_create(claims)
    lifecycle.count_created(*claims)
    audit.record_many(
        action="claim_submitted",
        actor=actor,
        entries=[
            {
                "claim": claim,
                "to_status": S.RECEIVED,
                "data": {"amount": str(claim.amount), "reason": claim.reason},
            }
            for claim in claims
        ],
        new_chains=True,
    )
    webhooks.emit_claim_events(claims, "claim.received", {})
    if len(claims) == 1:
        _enqueue_evaluation(claims[0].pk)
        return
    # One message per chunk, not per claim: a publish costs ≈1 ms of the web tier's CPU,
    # a third of a batched claim's whole cost; chunks keep several workers busy.
    from refunds.tasks import claims_evaluate_task

    ids = [claim.pk for claim in claims]
    for start in range(0, len(ids), EVALUATION_CHUNK):
        chunk = ids[start : start + EVALUATION_CHUNK]
        transaction.on_commit(lambda chunk=chunk: claims_evaluate_task.delay(chunk), robust=True)


def claim_submit(
    *,
    order: Order,
    amount: Decimal,
    reason: str,
    description: str = "",
    platform_id: str = "",
    actor: Actor,
) -> RefundClaim:
    """A buyer's refund-only claim arrives. Evidence is added with evidence.services;
    the claim is evaluated (checked, scored, routed) after commit."""
    _claim_checked(amount=amount, order_total=order.total_amount)
    if order.claims.filter(status__in=lifecycle.OPEN_STATUSES).exists():
        raise AlreadyExists(_("This order already has an open refund claim."))
    claim = _new_claim(
        order=order,
        amount=amount,
        reason=reason,
        description=description,
        platform_id=platform_id,
    )
    try:
        with transaction.atomic():
            _claims_insert([claim], actor=actor)
    except IntegrityError as exc:
        raise AlreadyExists(
            _("This order already has an open refund claim, or the claim id is taken.")
        ) from exc
    return claim


# --- Ingestion: orders with their claims, many at once ----------------------------------


@dataclass(frozen=True)
class ClaimInput:
    """A claim on the order it arrives with (:func:`claim_submit`)."""

    amount: Decimal
    reason: str
    description: str = ""
    platform_id: str = ""


@dataclass
class Ingested:
    """What became of one entry: the order and claim written, or the refusal. A refusal
    because the order or the claim id is already recorded names what is recorded."""

    order: Order | None = None
    claim: RefundClaim | None = None
    error: ClaimError | None = None
    existing_order_id: int | None = None
    existing_claim_id: int | None = None


MAX_INGEST_ENTRIES = 100


def claims_ingest(
    *, entries: list[tuple[OrderInput | Order, ClaimInput]], tenant, actor: Actor
) -> list[Ingested]:
    """Record many claims of one platform (``tenant``), each with its order: a new one
    (:class:`OrderInput`, its buyer inline) or one recorded before (an :class:`Order`):
    what a platform's system sends in bulk. One result per entry, in order.

    Each entry is checked alone by the rules :func:`order_create` and
    :func:`claim_submit` apply (the same functions), and against the others (an order
    or a claim id given twice: the first is kept) and what is already recorded (one
    read each for new order ids, claim ids and the recorded orders' open claims); a
    refused entry writes nothing. The accepted ones are then written together in one
    transaction, in a fixed number of statements (buyers, orders, items, claims,
    counters, audit, webhooks). Should the database still refuse that (another request
    wrote one of these ids, or a claim on one of these orders, in between), nothing of it
    stays and the entries are written one by one, each in its own transaction: a bad
    entry never loses the good ones, and no order is left without its claim."""
    if len(entries) > MAX_INGEST_ENTRIES:
        raise ClaimValidationError(
            _("At most %(count)s orders with claims at once.") % {"count": MAX_INGEST_ENTRIES}
        )
    tenant_id = getattr(tenant, "pk", tenant)
    results = [Ingested() for _entry in entries]
    accepted: list[int] = []
    orders_seen: set[tuple[int, str]] = set()
    claims_seen: set[tuple[int, str]] = set()
    totals: dict[int, Decimal] = {}
    for index, (order, claim) in enumerate(entries):
        try:
            if isinstance(order, Order):
                if order.merchant.tenant_id != tenant_id:
                    raise ClaimValidationError(
                        _("The order and the claim belong to different platforms.")
                    )
                total = order.total_amount
            else:
                total = _order_total(order, tenant_id=tenant_id)
            _claim_checked(amount=claim.amount, order_total=total)
            if (order.merchant.pk, order.platform_id) in orders_seen:
                raise AlreadyExists(_("This order is given twice in the batch."))
            if claim.platform_id and (order.merchant.pk, claim.platform_id) in claims_seen:
                raise AlreadyExists(_("This claim id is given twice in the batch."))
        except ClaimError as exc:
            results[index].error = exc
            continue
        orders_seen.add((order.merchant.pk, order.platform_id))
        if claim.platform_id:
            claims_seen.add((order.merchant.pk, claim.platform_id))
        totals[index] = total
        accepted.append(index)
    accepted = _without_recorded(entries, accepted, results)
    if not accepted:
        return results
    try:
        with transaction.atomic():
            _ingest_write(entries, accepted, totals, results, tenant_id, actor)
    except IntegrityError:
        log.info("ingest: a batch met a concurrent write; its entries go one by one")
        for index in accepted:
            results[index] = Ingested()
            try:
                with transaction.atomic():
                    _ingest_write(entries, [index], totals, results, tenant_id, actor)
            except IntegrityError:
                order = entries[index][0]
                if isinstance(order, Order):  # recorded before: its claim is what clashed
                    message = _(
                        "This order already has an open refund claim, or the claim id is taken."
                    )
                    results[index] = Ingested(
                        error=AlreadyExists(message), existing_order_id=order.pk
                    )
                else:
                    results[index] = Ingested(
                        error=AlreadyExists(
                            _("This order, or this claim id, is already recorded for this shop.")
                        )
                    )
    return results


def _without_recorded(entries, accepted: list[int], results: list[Ingested]) -> list[int]:
    """Refuse the accepted entries whose new order's id or whose claim id the shop already
    has, or whose recorded order already has an open claim (naming the recorded order and
    claim); the others."""
    if not accepted:
        return accepted
    shops = {entries[i][0].merchant.pk for i in accepted}
    given = [i for i in accepted if not isinstance(entries[i][0], Order)]
    order_ids = {entries[i][0].platform_id for i in given}
    recorded_orders = (
        {
            (shop, platform_id): pk
            for shop, platform_id, pk in Order.objects.filter(
                merchant_id__in=shops, platform_id__in=order_ids
            ).values_list("merchant_id", "platform_id", "pk")
        }
        if order_ids
        else {}
    )
    claim_ids = {entries[i][1].platform_id for i in accepted} - {""}
    recorded_claims = (
        {
            (shop, platform_id): (pk, order_id)
            for shop, platform_id, pk, order_id in RefundClaim.objects.filter(
                merchant_id__in=shops, platform_id__in=claim_ids
            ).values_list("merchant_id", "platform_id", "pk", "order_id")
        }
        if claim_ids
        else {}
    )
    latest_claims = {}
    if recorded_orders:
        latest_claims = dict(
            RefundClaim.objects.filter(order_id__in=recorded_orders.values())
            .order_by("order_id", "pk")
            .values_list("order_id", "pk")
        )
    named = {entries[i][0].pk for i in accepted if isinstance(entries[i][0], Order)}
    open_claims = (
        dict(
            RefundClaim.objects.filter(order_id__in=named, status__in=lifecycle.OPEN_STATUSES)
            .order_by("order_id", "pk")
            .values_list("order_id", "pk")
        )
        if named
        else {}
    )
    kept = []
    for index in accepted:
        order, claim = entries[index]
        found_claim = recorded_claims.get((order.merchant.pk, claim.platform_id))
        recorded = isinstance(order, Order)
        found_order = (
            None if recorded else recorded_orders.get((order.merchant.pk, order.platform_id))
        )
        if recorded and order.pk in open_claims:
            results[index] = Ingested(
                error=AlreadyExists(_("This order already has an open refund claim.")),
                existing_order_id=order.pk,
                existing_claim_id=open_claims[order.pk],
            )
        elif found_order is not None:
            results[index] = Ingested(
                error=AlreadyExists(
                    _("An order with this platform id already exists for this shop.")
                ),
                existing_order_id=found_order,
                existing_claim_id=latest_claims.get(found_order),
            )
        elif found_claim is not None:
            results[index] = Ingested(
                error=AlreadyExists(
                    _("A claim with this platform id already exists for this shop.")
                ),
                existing_claim_id=found_claim[0],
                existing_order_id=found_claim[1],
            )
        else:
            kept.append(index)
    return kept


def _ingest_write(entries, indexes: list[int], totals, results, tenant_id, actor) -> None:
    """Write the checked entries ``indexes`` (``totals``: their orders' totals): the new
    orders' buyers and orders, and every entry's claim, through the writes
    :func:`order_create` and :func:`claim_submit` use. In a transaction. Each new order
    keeps the buyer's name and phone as given with it (the phone known before when none
    is given), as :func:`order_create` does after :func:`buyer_upsert`."""
    orders: dict[int, Order] = {
        i: entries[i][0] for i in indexes if isinstance(entries[i][0], Order)
    }
    new = [i for i in indexes if i not in orders]
    if new:
        buyers = buyers_upsert(buyers=[entries[i][0].buyer for i in new], tenant=tenant_id)
        written = []
        for index in new:
            given = entries[index][0]
            buyer = buyers[given.buyer.platform_id]
            orders[index] = _new_order(
                given,
                buyer=buyer,
                total=totals[index],
                name=given.buyer.display_name,
                phone=given.buyer.phone or buyer.phone,
            )
            written.append((orders[index], given.items))
        _orders_insert(written)
    claims = []
    for index in indexes:
        given = entries[index][1]
        claims.append(
            _new_claim(
                order=orders[index],
                amount=given.amount,
                reason=given.reason,
                description=given.description,
                platform_id=given.platform_id,
            )
        )
        results[index] = Ingested(order=orders[index], claim=claims[-1])
    _claims_insert(claims, actor=actor)


def _enqueue_evaluation(claim_id: int) -> None:
    # Robust: the claim is committed whatever happens to the message. If the broker is
    # down the claim waits in ``received`` and the reconciler evaluates it
    # (``claims_evaluate_stuck``).
    from refunds.tasks import claim_evaluate_task

    transaction.on_commit(lambda: claim_evaluate_task.delay(claim_id), robust=True)


def claim_evaluate(*, claim_id: int) -> RefundClaim:
    """Bring a claim up to date with its evidence: start checking while files are pending,
    and once all are checked, score and route it and open the merchant's response window.

    Safe to call any number of times, from several workers at once (it is called after
    every file's checks): the claim row is locked for the whole evaluation."""
    with transaction.atomic():
        claim = RefundClaim.objects.select_for_update().get(pk=claim_id)
        return _evaluate_locked(claim)


def claims_evaluate_stuck(*, older_than_minutes: int, limit: int = 200) -> int:
    """Evaluate the claims a lost message left behind: every claim in ``checking`` (or
    ``received``) whose files are all settled, and every claim ``received`` longer than
    ``older_than_minutes``. Returns how many were evaluated; safe to run any time (the
    evaluation locks the claim and does nothing when there is nothing to do)."""
    from evidence.selectors import UNSETTLED

    received_before = timezone.now() - dt.timedelta(minutes=older_than_minutes)
    # Only the claims received or checking, read through ``claim_api_by_status`` in its
    # order (by id instead, PostgreSQL walked the primary key of every claim to find them).
    claim_ids = list(
        RefundClaim.objects.filter(
            Q(status__in=(S.RECEIVED, S.CHECKING))
            & (
                Q(status=S.RECEIVED, created_at__lt=received_before)
                | ~Q(pk__in=_claims_with_unsettled_evidence(UNSETTLED))
            )
        )
        .order_by("status", "-created_at", "-id")
        .values_list("pk", flat=True)[:limit]
    )
    evaluated = 0
    for claim_id in claim_ids:
        try:
            claim_evaluate(claim_id=claim_id)
        except (OperationalError, InterfaceError):
            raise  # the database is gone: the next sweep tries again
        except Exception:
            # One broken claim must not keep the others waiting behind it.
            log.exception("claim %s: evaluation by the reconciler failed", claim_id)
            continue
        evaluated += 1
    return evaluated


def _claims_with_unsettled_evidence(unsettled):
    from evidence.models import EvidenceFile

    return EvidenceFile.objects.filter(claim__isnull=False, status__in=unsettled).values("claim_id")


def _evaluate_locked(claim: RefundClaim) -> RefundClaim:
    from evidence import selectors as evidence_selectors
    from evidence.scoring import score_claim

    claim_id = claim.pk
    system = Actor.system("checks")
    if evidence_selectors.claim_has_unsettled_evidence(claim_id=claim_id):
        if claim.status in (S.RECEIVED, S.AWAITING_BUYER):
            claim = lifecycle.transition(
                claim.pk,
                to=S.CHECKING,
                actor=system,
                action="checks_started",
                expected_from={S.RECEIVED, S.AWAITING_BUYER},
                reason="evidence waiting for automated checks",
            )
        return claim

    score = score_claim(claim_id=claim_id)
    queue, _record = routing.route(claim, score, merchant_answered=_merchant_answered(claim))
    updates: dict[str, Any] = {
        "risk_score": score.score,
        "risk_reasons": score.reasons,
        "queue": queue,
    }
    suspicious = score.score >= score.suspicious_threshold
    if claim.status == S.RECEIVED:
        claim = lifecycle.transition(
            claim.pk,
            to=S.CHECKING,
            actor=system,
            action="checks_started",
            expected_from={S.RECEIVED},
            reason="no evidence files to check",
        )
    if claim.status == S.CHECKING:
        if claim.merchant_response or claim.review_deadline:
            # Evidence the reviewer asked for has been checked: back to review, routed
            # again on what the checks found.
            _close_evidence_requests(claim.pk, EvidenceRequest.Status.ANSWERED)
            return _enter_review(
                claim,
                actor=system,
                action="checks_completed",
                expected_from={S.CHECKING},
                reason="requested evidence checked",
                updates={"risk_score": score.score, "risk_reasons": score.reasons},
                data={"risk_score": score.score},
                merchant_answered=bool(claim.merchant_response),
            )
        window = _hours(
            "MERCHANT_RESPONSE_HOURS_SUSPICIOUS" if suspicious else "MERCHANT_RESPONSE_HOURS"
        )
        return lifecycle.transition(
            claim.pk,
            to=S.AWAITING_MERCHANT,
            actor=system,
            action="checks_completed",
            expected_from={S.CHECKING},
            reason="suspicious evidence: longer response window" if suspicious else "",
            updates={**updates, "merchant_deadline": timezone.now() + window},
            data={"risk_score": score.score, "queue": queue.slug if queue else None},
        )
    # Later evidence on a claim further along: refresh the score, extend a window if the
    # evidence has just turned suspicious, and log it.
    with transaction.atomic():
        locked = RefundClaim.objects.select_for_update().get(pk=claim.pk)
        if locked.status not in lifecycle.OPEN_STATUSES:
            return locked
        before = locked.risk_score
        changes = dict(updates)
        if (
            locked.status == S.AWAITING_MERCHANT
            and suspicious
            and (before is None or before < score.suspicious_threshold)
            and locked.merchant_deadline
        ):
            extended = locked.created_at + _hours("MERCHANT_RESPONSE_HOURS_SUSPICIOUS")
            if extended > locked.merchant_deadline:
                changes["merchant_deadline"] = extended
        if before == changes["risk_score"] and "merchant_deadline" not in changes:
            for name, value in changes.items():
                setattr(locked, name, value)  # as scored, though nothing is worth writing
        else:
            # Through the lifecycle: rerouting a waiting claim moves it between queues.
            lifecycle.claim_change(locked, **changes)
            audit.record(
                action="rescored",
                actor=system,
                claim=locked,
                data={"risk_score": locked.risk_score, "previous": before},
            )
    return locked


def _merchant_answered(claim: RefundClaim) -> bool | None:
    """For routing: None while the merchant may still answer (or has not been asked),
    else whether it answered."""
    if claim.status in (S.RECEIVED, S.AWAITING_MERCHANT) or (
        claim.status == S.CHECKING and not claim.merchant_response and not claim.review_deadline
    ):
        return None
    return bool(claim.merchant_response)


def _enter_review(
    claim: RefundClaim,
    *,
    actor: Actor,
    action: str,
    reason: str,
    expected_from: set[str],
    merchant_answered: bool,
    updates: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> RefundClaim:
    """Move a claim (locked by the caller) into review: routed with the live rules at
    the ``review`` stage (recorded), its review deadline from the queue's SLA; and when
    the rule that fired decides by itself, decided by the system
    (:func:`_auto_decide_locked`)."""
    queue, record = routing.route(
        claim, stage=RoutingRecord.Stage.REVIEW, merchant_answered=merchant_answered
    )
    now = now or timezone.now()
    claim = lifecycle.transition(
        claim.pk,
        to=S.IN_REVIEW,
        actor=actor,
        action=action,
        reason=reason,
        expected_from=expected_from,
        updates={
            **(updates or {}),
            "queue": queue,
            "review_deadline": now + dt.timedelta(hours=queue.sla_hours),
        },
        data={**(data or {}), "queue": queue.slug, "rule": record.rule_name or None},
    )
    if record.auto_outcome:
        claim = _auto_decide_locked(claim, record)
    return claim


def _auto_decide_locked(claim: RefundClaim, record: RoutingRecord) -> RefundClaim:
    """A system decision by the rule that routed the claim into review: recorded as a
    :class:`Decision` without a reviewer (``automatic``), with the rule and the
    conditions that held in its rationale and audit event; appealable as any other."""
    outcome = record.auto_outcome
    refund_amount = _refund_for(outcome, claim, None)
    conditions = ", ".join(record.matched) or "no conditions"
    rationale = f"Decided by routing rule “{record.rule_name}”: {conditions}."
    now = timezone.now()
    claim = lifecycle.transition(
        claim.pk,
        to=S.DECIDED,
        actor=Actor.system("routing"),
        action="auto_decided",
        expected_from={S.IN_REVIEW},
        reason=rationale,
        updates={
            "outcome": outcome,
            "refund_amount": refund_amount,
            "confirmed_forgery": False,
            "decided_at": now,
            "appeal_deadline": now + _hours("APPEAL_WINDOW_HOURS"),
        },
        data={
            "outcome": outcome,
            "refund_amount": str(refund_amount),
            "rule_id": record.rule_id,
            "rule": record.rule_name,
            "conditions": record.matched,
            "routing_record": record.pk,
        },
    )
    Decision.objects.create(
        claim=claim,
        outcome=outcome,
        refund_amount=refund_amount,
        rationale=rationale,
        automatic=True,
        routing_rule_id=record.rule_id,
    )
    webhooks.emit_claim_event(
        claim, "claim.decided", {"outcome": outcome, "on_appeal": False, "automatic": True}
    )
    return claim


class MerchantResponse:
    ACCEPT = "accept"
    CONTEST = "contest"
    OFFER_RETURN = "offer_return"
    OFFER_PARTIAL = "offer_partial"
    ALL = (ACCEPT, CONTEST, OFFER_RETURN, OFFER_PARTIAL)
    # The answers that pay the buyer (now, or once a reviewer agrees): confirmed first.
    MONEY = (ACCEPT, OFFER_RETURN, OFFER_PARTIAL)


def _merchant_answer_valid(
    claim: RefundClaim, response: str, statement: str, offer_amount: Decimal | None
) -> Decimal | None:
    """Raise on an answer that cannot be given; the offer it carries (None if none)."""
    if response not in MerchantResponse.ALL:
        raise ClaimValidationError(_("Unknown response."))
    if response != MerchantResponse.ACCEPT and len(statement.strip()) < 10:
        raise ClaimValidationError(
            _("Please explain your answer in a few words (at least 10 characters).")
        )
    if response != MerchantResponse.OFFER_PARTIAL:
        return None
    if offer_amount is None or not (Decimal("0") < offer_amount < claim.amount):
        raise ClaimValidationError(
            _("A partial refund must be more than ¥0 and less than the ¥%(amount)s claimed.")
            % {"amount": claim.amount}
        )
    return offer_amount


def claim_merchant_respond(
    *,
    claim: RefundClaim,
    user,
    response: str,
    statement: str = "",
    offer_amount: Decimal | None = None,
) -> RefundClaim:
    """The merchant answers within its window (:func:`refunds.policy.can_respond`):
    accept (refund now), or contest / offer a return / offer a partial refund, each of
    which goes to a human reviewer."""
    offer_amount = _merchant_answer_valid(claim, response, statement, offer_amount)
    actor = Actor.of_user(user)
    with transaction.atomic():
        locked = _lock_claim(claim.pk)
        policy.enforce(policy.can_respond(user, locked))
        if response == MerchantResponse.ACCEPT:
            claim = lifecycle.transition(
                locked.pk,
                to=S.DECIDED,
                actor=actor,
                action="merchant_accepted",
                expected_from={S.AWAITING_MERCHANT},
                reason=statement,
                updates={
                    "merchant_response": response,
                    "merchant_statement": statement,
                    "outcome": Outcome.REFUND_APPROVED,
                    "refund_amount": locked.amount,
                    "decided_at": timezone.now(),
                    # The shop may take its own acceptance back to a reviewer, as a party
                    # may a reviewer's decision (refunds.policy.can_appeal).
                    "appeal_deadline": timezone.now() + _hours("APPEAL_WINDOW_HOURS"),
                },
            )
            Decision.objects.create(
                claim=claim,
                decided_by_merchant=True,
                outcome=Outcome.REFUND_APPROVED,
                refund_amount=claim.amount,
                rationale=statement or _("Accepted by the merchant."),
            )
            return claim
        return _enter_review(
            locked,
            actor=actor,
            action=f"merchant_{response}",
            expected_from={S.AWAITING_MERCHANT},
            reason=statement,
            updates={
                "merchant_response": response,
                "merchant_statement": statement,
                "merchant_offer_amount": offer_amount,
            },
            data={"offer_amount": str(offer_amount) if offer_amount else None},
            merchant_answered=True,
        )


def merchant_answer_amount(
    *, claim: RefundClaim, response: str, offer_amount: Decimal | None = None
) -> Decimal | None:
    """What the shop's answer pays the buyer: the amount claimed for an acceptance or a
    return, the offer for a partial refund; None for an answer that pays nothing."""
    if response in (MerchantResponse.ACCEPT, MerchantResponse.OFFER_RETURN):
        return claim.amount
    if response == MerchantResponse.OFFER_PARTIAL:
        return offer_amount
    return None


def claim_merchant_respond_confirmed(
    *,
    claim: RefundClaim,
    user,
    response: str,
    confirmed_amount: Decimal | None,
    statement: str = "",
    offer_amount: Decimal | None = None,
) -> RefundClaim:
    """:func:`claim_merchant_respond` for a person at a page: an answer that pays the
    buyer (accept, offer a return, offer a partial refund) is carried out only with
    ``confirmed_amount`` equal to the amount it pays, the one the confirmation step
    stated. Without it (or with another amount: a stale page, an edited offer) it raises
    :class:`ConfirmationRequired` and nothing is written; an answer that would be refused
    anyway is refused first, so a confirmation is asked only for what can be done."""
    offer_amount = _merchant_answer_valid(claim, response, statement, offer_amount)
    policy.enforce(policy.can_respond(user, claim))
    amount = merchant_answer_amount(claim=claim, response=response, offer_amount=offer_amount)
    if response in MerchantResponse.MONEY and (
        amount is None or confirmed_amount is None or confirmed_amount != amount
    ):
        raise ConfirmationRequired
    return claim_merchant_respond(
        claim=claim, user=user, response=response, statement=statement, offer_amount=offer_amount
    )


def claim_flag_ai_suspect(*, claim: RefundClaim, user, note: str = "") -> RefundClaim:
    """A member of the claim's shop suspects the buyer's photo is AI-made
    (:func:`refunds.policy.can_flag_ai_suspect`): the flag and the note are stored on
    the claim, the claim goes to the forensic queue (``queue_changed``, as
    :func:`claim_move_queue` records it) and the flag is in its audit trail
    (``ai_suspect_flagged``, with the note). Routing keeps the claim there when new
    evidence rescores it."""
    note = note.strip()
    if len(note) > 1000:
        raise ClaimValidationError(_("Keep the note under 1,000 characters."))
    actor = Actor.of_user(user)
    forensic = routing.forensic_queue(tenant_id=claim.tenant_id)
    with transaction.atomic():
        locked = _lock_claim(claim.pk)
        policy.enforce(policy.can_flag_ai_suspect(user, locked))
        locked.ai_suspected_at = timezone.now()
        locked.ai_suspected_by = user
        locked.ai_suspect_note = note
        locked.save(
            update_fields=["ai_suspected_at", "ai_suspected_by", "ai_suspect_note", "updated_at"]
        )
        audit.record(
            action="ai_suspect_flagged",
            actor=actor,
            claim=locked,
            reason=note,
            data={"queue": forensic.slug},
        )
        if forensic.is_active:
            _queue_change_locked(
                locked, forensic, actor=actor, reason="ai_suspect_flagged", by_shop=True
            )
    claim.refresh_from_db()
    return locked


def claim_request_buyer_evidence(
    *,
    claim: RefundClaim,
    reviewer,
    message: str,
    evidence=None,
    challenge: bool = False,
    hours: int | None = None,
) -> RefundClaim:
    """The reviewer holding a claim in review asks the buyer for more evidence
    (:func:`refunds.policy.can_request_evidence`) and gives the claim back to its queue;
    checks run again on what arrives. ``evidence``: the buyer's photo that is not
    enough (one of the claim's); ``challenge``: a one-time code the buyer must write on
    paper and photograph beside the item; ``hours``: the buyer's window
    (``BUYER_EVIDENCE_HOURS``, 72, by default). Recorded as an :class:`EvidenceRequest`
    the merchant sees with its deadline."""
    from evidence.checks.challenge_code import new_code

    if not message.strip():
        raise ClaimValidationError(_("Say what evidence the buyer should send."))
    if evidence is not None and evidence.claim_id != claim.pk:
        raise ClaimValidationError(_("That photo is not one of this claim's."))
    window = dt.timedelta(hours=hours) if hours else _hours("BUYER_EVIDENCE_HOURS")
    if not dt.timedelta(hours=1) <= window <= dt.timedelta(days=14):
        raise ClaimValidationError(_("Give the buyer between 1 hour and 14 days."))
    with transaction.atomic():
        locked = _lock_claim(claim.pk)
        holder = _open_assignment_locked(locked.pk)
        policy.enforce(policy.can_request_evidence(reviewer, locked, holder=holder))
        now = timezone.now()
        request = EvidenceRequest.objects.create(
            claim=locked,
            evidence=evidence,
            wanted=message,
            challenge_code=new_code() if challenge else "",
            requested_by=reviewer,
            issued_at=now,
            deadline=now + window,
        )
        claim = lifecycle.transition(
            locked.pk,
            to=S.AWAITING_BUYER,
            actor=Actor.of_user(reviewer),
            action="buyer_evidence_requested",
            expected_from={S.IN_REVIEW},
            reason=message,
            updates={"buyer_deadline": request.deadline},
            data={
                "request": request.pk,
                "evidence": evidence.pk if evidence is not None else None,
                "challenge": challenge,
            },
        )
        _end_hold(claim)
    return claim


def _close_evidence_requests(claim_id: int, status: str) -> None:
    EvidenceRequest.objects.filter(claim_id=claim_id, status=EvidenceRequest.Status.OPEN).update(
        status=status, closed_at=timezone.now()
    )


def claim_withdraw(*, claim: RefundClaim, actor: Actor, reason: str = "") -> RefundClaim:
    with transaction.atomic():
        claim = lifecycle.transition(
            claim.pk,
            to=S.WITHDRAWN,
            actor=actor,
            action="withdrawn",
            reason=reason,
        )
        _end_hold(claim)
    return claim


def claim_move_queue(*, claim: RefundClaim, queue, user, reason: str = "") -> RefundClaim:
    """Move an undecided claim to another (active) review queue, e.g. an administrator
    correcting the routing (:func:`refunds.policy.can_move_queue`). Recorded in the claim's
    audit trail with both queues; moving a claim to the queue it is in records nothing."""
    if not queue.is_active:
        raise ClaimValidationError(_("Claims can only be moved to an active queue."))
    with transaction.atomic():
        locked = _lock_claim(claim.pk)
        policy.enforce(policy.can_move_queue(user, locked, queue))
        _queue_change_locked(locked, queue, actor=Actor.of_user(user), reason=reason)
    return locked


def _queue_change_locked(
    locked: RefundClaim, queue, *, actor: Actor, reason: str, by_shop: bool = False
) -> None:
    """Move the locked claim to ``queue`` and record ``queue_changed`` with both queues
    (and ``by: merchant`` when the shop's act moved it); nothing when it is there."""
    if locked.queue_id == queue.pk:
        return
    previous = locked.queue.slug if locked.queue else None
    lifecycle.claim_change(locked, queue=queue)
    audit.record(
        action="queue_changed",
        actor=actor,
        claim=locked,
        reason=reason,
        data={"from": previous, "to": queue.slug, **({"by": "merchant"} if by_shop else {})},
    )


# --- Review -----------------------------------------------------------------------------

_PG_LEASES_LOCK = 0x6C656173  # "leas": with the reviewer's id, that reviewer's leases
# A claim without a queue (none is routed so; older data may be) gets the field's default.
DEFAULT_LEASE_MINUTES = ReviewQueue._meta.get_field("lease_minutes").default


def _lock_reviewer_leases(reviewer) -> None:
    """Before step 1, when taking only: the reviewer's own leases (a PostgreSQL advisory
    lock on the reviewer's id; SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway),
    so two takes by one reviewer at once cannot both pass the cap. Nothing else takes
    it, and whoever holds it holds no claim yet: it cannot close a cycle."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_PG_LEASES_LOCK, reviewer.pk])


def _lock_claim(claim_id: int) -> RefundClaim:
    """Step 1 of the lock order (module docstring): the claim row."""
    return RefundClaim.objects.select_for_update().get(pk=claim_id)


def _open_assignment_locked(claim_id: int) -> Assignment | None:
    """Step 2: the claim's open assignment, locked. Call it holding the claim's lock."""
    return (
        Assignment.objects.select_for_update()
        .select_related("reviewer")
        .filter(claim_id=claim_id, released_at__isnull=True)
        .first()
    )


def _lease_minutes(claim: RefundClaim) -> int:
    return claim.queue.lease_minutes if claim.queue_id else DEFAULT_LEASE_MINUTES


def _start_hold(claim: RefundClaim, reviewer, *, lease_minutes: int) -> Assignment:
    """Open the reviewer's lease on the claim and record it as the claim's holder; call
    it holding the claim's lock (step 2)."""
    now = timezone.now()
    assignment = Assignment.objects.create(
        claim=claim,
        reviewer=reviewer,
        for_appeal=claim.status == S.APPEALED,
        last_activity_at=now,
        expires_at=now + dt.timedelta(minutes=lease_minutes),
    )
    lifecycle.claim_change(claim, touch=False, held_by=reviewer)
    return assignment


def _end_hold(claim: RefundClaim) -> None:
    """Close the claim's open assignment and clear its holder; call it holding the
    claim's lock (step 2)."""
    Assignment.objects.filter(claim_id=claim.pk, released_at__isnull=True).update(
        released_at=timezone.now()
    )
    if claim.held_by_id is not None:
        lifecycle.claim_change(claim, touch=False, held_by=None)


def _record_assigned(claim: RefundClaim, reviewer, assignment: Assignment, queue_slug) -> None:
    audit.record(
        action="assigned",
        actor=Actor.of_user(reviewer),
        claim=claim,
        data={"queue": queue_slug, "lease_expires_at": assignment.expires_at},
    )


def claim_take_next(*, reviewer, queue=None) -> RefundClaim:
    """Give the reviewer the most urgent unassigned claim they may take
    (:func:`refunds.policy.can_take`: appeals only to a senior reviewer who did not
    decide the claim first; at most ``REVIEW_MAX_OPEN_LEASES`` held at once), as a lease
    that ends after the queue's ``lease_minutes`` without activity. Two reviewers never
    get the same claim, and :class:`NothingToReview` means no claim the reviewer may take
    waits (in ``queue``, when given).

    Queues are served one at a time by priority, each from the head of its index range
    (review deadline, then the oldest), with ``SKIP LOCKED`` on PostgreSQL: a reviewer
    racing another for the head takes the next row instead of colliding. Only when every
    waiting claim was locked by somebody else does it wait for those locks (an answer of
    "nothing" must be true, not the result of a race). The queries do not grow with the
    number of claims, nor, when a claim is found, with the number of queues."""
    if not policy.is_reviewer(reviewer):
        raise NotAllowed(_("Only platform reviewers review claims."))
    reads = take_next_reads(reviewer=reviewer, queue=queue)
    with transaction.atomic():
        _lock_reviewer_leases(reviewer)
        held = reads.open_lease_count()
        policy.enforce(policy.can_take_another(reviewer, open_leases=held))
        claim, served = _first_takeable(reads, reads.queues(), reviewer, held)
        if claim is None and queue is None:
            # Claims in review without a queue (older data): served after every queue.
            # Rare, so one pass that waits for other takers' locks is enough.
            orphans = [QueueToServe(None, None, DEFAULT_LEASE_MINUTES)]
            claim, served = _first_takeable(reads, orphans, reviewer, held, passes=(False,))
        if claim is None:
            raise NothingToReview()
        assignment = _start_hold(claim, reviewer, lease_minutes=served.lease_minutes)
        _record_assigned(claim, reviewer, assignment, served.slug)
    return claim


def _first_takeable(reads, queues, reviewer, held, *, passes=(True, False)):
    """The first claim of ``queues`` (in order) the reviewer may take, locked: first
    skipping rows other transactions hold, then, when that found nothing, waiting for
    them (each becomes free again, or is gone: taken or moved)."""
    for skip_locked in passes:
        for served in queues:
            claim = reads.head(served.pk, skip_locked=skip_locked)
            # The lock re-read the row, so it still waits and nobody holds it; the
            # policy has the last word on everything else.
            if claim is not None and policy.can_take(
                reviewer, claim, holder=None, open_leases=held
            ):
                return claim, served
    return None, None


def claim_assign(*, claim: RefundClaim, reviewer) -> RefundClaim:
    """A reviewer takes one specific claim from a queue (opened from the queue list), if
    :func:`refunds.policy.can_take` allows it; a lease, as with :func:`claim_take_next`."""
    with transaction.atomic():
        _lock_reviewer_leases(reviewer)
        locked = _lock_claim(claim.pk)
        holder = _open_assignment_locked(locked.pk)
        policy.enforce(
            policy.can_take(
                reviewer, locked, holder=holder, open_leases=policy.open_lease_count(reviewer)
            )
        )
        assignment = _start_hold(locked, reviewer, lease_minutes=_lease_minutes(locked))
        _record_assigned(locked, reviewer, assignment, locked.queue.slug if locked.queue else None)
    return locked


def claim_release(*, claim: RefundClaim, reviewer) -> None:
    """Give a claim back to its queue without deciding it: the reviewer holding it, or a
    senior reviewer freeing a claim somebody else holds (:func:`refunds.policy.can_release`;
    the audit event then names whose hold it was)."""
    with transaction.atomic():
        locked = _lock_claim(claim.pk)
        holder = _open_assignment_locked(locked.pk)
        policy.enforce(policy.can_release(reviewer, locked, holder=holder))
        _end_hold(locked)
        audit.record(
            action="released",
            actor=Actor.of_user(reviewer),
            claim=locked,
            data={}
            if holder.reviewer_id == reviewer.pk
            else {"holder": holder.reviewer.get_username()},
        )


def claim_lease_renew(*, claim: RefundClaim, reviewer) -> bool:
    """Activity of the reviewer holding the claim (opening its review page, a form sent
    from it): the lease runs again for the queue's ``lease_minutes`` from now. False,
    and nothing written, when the reviewer does not hold the claim.

    One compare-and-set UPDATE of the open assignment, in its own statement: it never
    revives a lease that has ended, and an expiry that locked the claim first wins (the
    sweep compares ``expires_at`` again under its lock). It waits for nothing while it
    holds the assignment's row, so it stays out of the lock order's cycles."""
    now = timezone.now()
    renewed = Assignment.objects.filter(
        claim_id=claim.pk, reviewer_id=reviewer.pk, released_at__isnull=True
    ).update(last_activity_at=now, expires_at=now + dt.timedelta(minutes=_lease_minutes(claim)))
    return renewed == 1


def leases_expire(*, now: dt.datetime | None = None, limit: int | None = None) -> int:
    """Give back to their queues the claims whose lease passed its expiry without
    activity, at most ``limit`` (``LEASE_EXPIRY_BATCH``) per call, oldest expiry first,
    each recorded in the claim's audit trail (``lease_expired``, by the system, naming
    whose lease it was). Returns how many ended.

    Each claim in its own short transaction, in the lock order: the claim row first
    (``SKIP LOCKED``: a claim somebody is acting on right now is left to the next sweep),
    then a compare-and-set on the assignment (still open, still expired), so an expiry
    racing with the holder's decision, release or renewal ends in exactly one of them."""
    now = now or timezone.now()
    limit = settings.LEASE_EXPIRY_BATCH if limit is None else limit
    due = list(
        Assignment.objects.filter(released_at__isnull=True, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", "claim_id")[:limit]
    )
    system = Actor.system("leases")
    expired = 0
    for assignment_id, claim_id in due:
        with transaction.atomic():
            claim = (
                RefundClaim.objects.select_for_update(skip_locked=True).filter(pk=claim_id).first()
            )
            if claim is None:
                continue
            lease = (
                Assignment.objects.select_related("reviewer")
                .filter(pk=assignment_id, released_at__isnull=True, expires_at__lte=now)
                .first()
            )
            if lease is None:
                continue  # decided, released or renewed since the batch was read
            ended = Assignment.objects.filter(
                pk=lease.pk, released_at__isnull=True, expires_at=lease.expires_at
            ).update(released_at=now)
            if ended != 1:
                continue
            if claim.held_by_id == lease.reviewer_id:
                lifecycle.claim_change(claim, touch=False, held_by=None)
            audit.record(
                action="lease_expired",
                actor=system,
                claim=claim,
                data={
                    "holder": lease.reviewer.get_username(),
                    "expired_at": lease.expires_at,
                    "last_activity_at": lease.last_activity_at,
                },
            )
            expired += 1
    return expired


def claim_decide(
    *,
    claim: RefundClaim,
    reviewer,
    outcome: str,
    rationale: str,
    refund_amount: Decimal | None = None,
    confirmed_forgery: bool = False,
    template: RationaleTemplate | None = None,
    findings_relied_on: list[int] | tuple[int, ...] = (),
    photo_verdicts: dict[int, str] | None = None,
) -> RefundClaim:
    """The reviewer holding a claim decides it, in review or on appeal
    (:func:`refunds.policy.can_decide`: an appeal by a senior reviewer who did not decide
    the claim first).

    ``template``: a rationale template, filled in (:func:`rationale_render`) and put
    before the reviewer's own words; ``findings_relied_on``: ids of the claim's findings
    the decision rests on (stored on the decision); ``photo_verdicts``: the reviewer's
    verdict per buyer's file (evidence id → ``PhotoVerdict``), stored per file; a file
    confirmed forged makes the decision one of confirmed forgery."""
    if outcome not in Outcome.values:
        raise ClaimValidationError(_("Unknown outcome."))
    refund_amount = _refund_for(outcome, claim, refund_amount)
    relied, verdicts = _decision_evidence(claim, findings_relied_on, photo_verdicts or {})
    if PhotoVerdict.CONFIRMED_FORGED in verdicts.values():
        confirmed_forgery = True
    if template is not None:
        rationale = rationale_render(
            template, claim=claim, refund=refund_amount, finding_ids=relied, own_words=rationale
        )
    if len(rationale.strip()) < 10:
        raise ClaimValidationError(_("Write a rationale of at least 10 characters."))
    if confirmed_forgery and outcome == Outcome.REFUND_APPROVED:
        raise ClaimValidationError(_("A claim with forged evidence cannot be fully refunded."))
    actor = Actor.of_user(reviewer)
    with transaction.atomic():
        locked = _lock_claim(claim.pk)
        assignment = _open_assignment_locked(locked.pk)
        policy.enforce(policy.can_decide(reviewer, locked, holder=assignment))
        on_appeal = locked.status == S.APPEALED
        claim = lifecycle.transition(
            locked.pk,
            to=S.DECIDED,
            actor=actor,
            action="appeal_decided" if on_appeal else "decided",
            expected_from={S.IN_REVIEW, S.APPEALED},
            reason=rationale,
            updates={
                "outcome": outcome,
                "refund_amount": refund_amount,
                "confirmed_forgery": confirmed_forgery,
                "decided_at": timezone.now(),
                "appeal_deadline": None
                if on_appeal
                else timezone.now() + _hours("APPEAL_WINDOW_HOURS"),
            },
            data={"outcome": outcome, "refund_amount": str(refund_amount)},
        )
        decision = Decision.objects.create(
            claim=claim,
            reviewer=reviewer,
            outcome=outcome,
            refund_amount=refund_amount,
            rationale=rationale,
            confirmed_forgery=confirmed_forgery,
            on_appeal=on_appeal,
            findings_relied_on=relied,
        )
        ReviewerPhotoVerdict.objects.bulk_create(
            ReviewerPhotoVerdict(decision=decision, evidence_id=evidence_id, verdict=verdict)
            for evidence_id, verdict in sorted(verdicts.items())
        )
        if on_appeal:
            Appeal.objects.filter(claim=claim, appeal_decision__isnull=True).update(
                appeal_decision=decision
            )
        _end_hold(claim)
        webhooks.emit_claim_event(
            claim, "claim.decided", {"outcome": outcome, "on_appeal": on_appeal}
        )
    return claim


def _decision_evidence(claim, finding_ids, verdicts) -> tuple[list[int], dict[int, str]]:
    """The findings and files a decision names, checked to be the claim's (buyer's
    files only for verdicts)."""
    from evidence.models import EvidenceFile, Finding

    relied = sorted({int(pk) for pk in finding_ids})
    if relied and Finding.objects.filter(claim_id=claim.pk, pk__in=relied).count() != len(relied):
        raise ClaimValidationError(_("A finding relied on is not one of this claim's."))
    verdicts = {int(pk): verdict for pk, verdict in verdicts.items() if verdict}
    if any(verdict not in PhotoVerdict.values for verdict in verdicts.values()):
        raise ClaimValidationError(_("Unknown photo verdict."))
    if verdicts:
        buyer_files = EvidenceFile.objects.filter(
            claim_id=claim.pk, pk__in=verdicts, attached_to="claim"
        ).exclude(submitted_by="merchant")
        if buyer_files.count() != len(verdicts):
            raise ClaimValidationError(_("A photo verdict names a file that is not the buyer's."))
    return relied, verdicts


# A placeholder ``{name}``, or a doubled brace (a brace itself); nothing else is read:
# no attribute, index or format spec, whatever a template holds.
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def _fill_template(text: str, values: dict[str, str]) -> str:
    """``text`` with its placeholders filled in from ``values`` and ``{{``/``}}`` as
    braces; any other ``{…}`` and a lone brace are left as written (a template saved
    before :func:`rationale_template_problems` existed must not break a decision)."""

    def fill(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values.get(match.group(1), token)

    return _TEMPLATE_TOKEN.sub(fill, text)


def rationale_template_problems(template: RationaleTemplate) -> dict[str, str]:
    """What is wrong with a rationale template's texts, by field: a placeholder that is
    not one of ``RationaleTemplate.PLACEHOLDERS`` (a typo would be shown as written in
    every decision made with it), a lone brace."""
    known = ", ".join(f"{{{name}}}" for name in RationaleTemplate.PLACEHOLDERS)
    problems: dict[str, str] = {}
    for field in ("text_en", "text_zh"):
        text = getattr(template, field) or ""
        unknown = [
            match.group(0)
            for match in _TEMPLATE_TOKEN.finditer(text)
            if match.group(1) is not None and match.group(1) not in RationaleTemplate.PLACEHOLDERS
        ]
        if unknown:
            problems[field] = _(
                "Unknown placeholder %(names)s; the placeholders are %(known)s."
            ) % {"names": ", ".join(dict.fromkeys(unknown)), "known": known}
        elif {"{", "}"} & set(_TEMPLATE_TOKEN.sub("", text)):
            problems[field] = _(
                "A lone brace: write {{ or }} for a brace itself, or a placeholder (%(known)s)."
            ) % {"known": known}
    return problems


def rationale_template_save(*, template: RationaleTemplate, user) -> RationaleTemplate:
    """Save a rationale template (new or changed) for the deployment's operator (every
    platform's reviewers use it) after :func:`rationale_template_problems` finds nothing
    wrong (``evidence.services.deployment_setting_save``)."""
    from evidence.services import deployment_setting_save

    return deployment_setting_save(template, rationale_template_problems(template), user=user)


def rationale_render(
    template: RationaleTemplate,
    *,
    claim: RefundClaim,
    refund: Decimal,
    finding_ids: list[int],
    own_words: str = "",
    language: str | None = None,
) -> str:
    """The template's text in ``language`` (the active one by default; Chinese for
    ``zh*``) with its placeholders filled in, then the reviewer's own words. An unknown
    placeholder is left as written."""
    from django.utils.translation import get_language

    from evidence.models import Finding

    language = language or get_language() or "en"
    text = template.text_zh if language.startswith("zh") else template.text_en
    codes = sorted(set(Finding.objects.filter(pk__in=finding_ids).values_list("code", flat=True)))
    values = {
        "claim": f"#{claim.pk}",
        "amount": f"¥{claim.amount}",
        "refund": f"¥{refund}",
        "shop": claim.merchant.name,
        "findings": ", ".join(codes) or "—",
    }
    filled = _fill_template(text, values)
    return "\n\n".join(part for part in (filled.strip(), own_words.strip()) if part)


def _refund_for(outcome: str, claim: RefundClaim, amount: Decimal | None) -> Decimal:
    if outcome == Outcome.REFUND_APPROVED:
        return claim.amount
    if outcome in (Outcome.REFUND_DENIED,):
        return Decimal("0")
    if outcome == Outcome.RETURN_REQUIRED:
        return claim.amount  # refunded once the goods come back
    if amount is None or not (Decimal("0") < amount < claim.amount):
        raise ClaimValidationError(
            _("A partial refund must be more than ¥0 and less than the ¥%(amount)s claimed.")
            % {"amount": claim.amount}
        )
    return amount


def claim_appeal(*, claim: RefundClaim, filed_by: str, reason: str, user=None) -> Appeal:
    """Either party appeals a reviewer's decision within the appeal window
    (:func:`refunds.policy.can_appeal`: the merchant as a user of the shop, the buyer
    through the platform); a second, senior reviewer decides."""
    if filed_by not in Appeal.Party.values:
        raise ClaimValidationError(_("Unknown party."))
    if len(reason.strip()) < 10:
        raise ClaimValidationError(_("Explain the appeal in at least 10 characters."))
    actor = Actor.of_user(user) if user else Actor.platform(filed_by)
    with transaction.atomic():
        locked = _lock_claim(claim.pk)
        policy.enforce(policy.can_appeal(user, locked, party=filed_by))
        original = locked.decisions.filter(on_appeal=False).order_by("-created_at").first()
        lifecycle.transition(
            locked.pk,
            to=S.APPEALED,
            actor=actor,
            action="appealed",
            expected_from={S.DECIDED},
            reason=reason,
            updates=_appeal_queue_updates(locked),
        )
        appeal = Appeal.objects.create(
            claim=locked,
            filed_by=filed_by,
            filed_by_user=user,
            reason=reason,
            original_decision=original,
        )
    claim.refresh_from_db()
    return appeal


def _appeal_queue_updates(claim: RefundClaim) -> dict[str, Any]:
    """An appeal waits in its platform's "appeals" queue (when it has an active one)
    under that queue's SLA; otherwise it stays in its queue under ``REVIEW_SLA_HOURS``."""
    queue = ReviewQueue.objects.filter(
        tenant_id=claim.tenant_id, slug=APPEALS_QUEUE_SLUG, is_active=True
    ).first()
    if queue is None:
        return {"review_deadline": timezone.now() + _hours("REVIEW_SLA_HOURS")}
    return {"queue": queue, "review_deadline": timezone.now() + dt.timedelta(hours=queue.sla_hours)}


def claim_close(*, claim: RefundClaim, actor: Actor, reason: str = "") -> RefundClaim:
    return lifecycle.transition(
        claim.pk,
        to=S.CLOSED,
        actor=actor,
        action="closed",
        reason=reason,
        expected_from={S.DECIDED},
    )


# --- Evidence pack ----------------------------------------------------------------------


def evidence_pack_export(*, claim: RefundClaim, user) -> bytes:
    """The claim's evidence pack for ``user`` (ZIP bytes; what it holds for whom:
    :mod:`refunds.evidence_pack`), with the export recorded in the claim's audit trail:
    who, for which audience, and the ZIP's SHA-256 and size, so the platform can later
    confirm that a pack put before it is one it issued. Raises :class:`NotAllowed` for a
    user who is neither of the claim's shop nor a reviewer
    (:func:`refunds.policy.can_export_evidence_pack`; nothing is recorded then)."""
    from refunds.evidence_pack import evidence_pack_build

    policy.enforce(policy.can_export_evidence_pack(user, claim))
    audience = policy.evidence_pack_audience(user, claim)
    # Built outside the transaction: images and a PDF take a moment; the audit append
    # (which serialises writers) must not wait for them.
    data = evidence_pack_build(claim=claim, user=user)
    with transaction.atomic():
        audit.record(
            action="evidence_pack_exported",
            actor=Actor.of_user(user),
            claim=claim,
            data={
                "audience": audience,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            },
        )
    return data


# --- Deadlines --------------------------------------------------------------------------


def _deadline_jobs(now: dt.datetime):
    """(key, the due claims, target, action, reason): each due set is read through a
    partial index on its deadline (``claim_merchant_due``, ``claim_buyer_due``,
    ``claim_appeal_due``), so a tick costs what is due, not what the table holds."""
    return [
        (
            "merchant_missed",
            RefundClaim.objects.filter(status=S.AWAITING_MERCHANT, merchant_deadline__lt=now),
            S.IN_REVIEW,
            "merchant_deadline_missed",
            "the merchant did not respond before the deadline",
        ),
        (
            "buyer_missed",
            RefundClaim.objects.filter(status=S.AWAITING_BUYER, buyer_deadline__lt=now),
            S.IN_REVIEW,
            "buyer_deadline_missed",
            "the buyer sent no further evidence before the deadline",
        ),
        (
            "closed",
            RefundClaim.objects.filter(status=S.DECIDED).filter(
                Q(appeal_deadline__lt=now) | Q(appeal_deadline__isnull=True)
            ),
            S.CLOSED,
            "closed",
            "decision final: appeal window over",
        ),
    ]


def enforce_deadlines(
    *,
    now: dt.datetime | None = None,
    batch_size: int | None = None,
    budget_seconds: float | None = None,
) -> dict[str, int]:
    """Move every claim whose deadline passed, with the reason recorded. Never decides:
    a silent merchant or buyer sends the claim to a human reviewer.

    In bounded batches (``DEADLINE_BATCH``, 500): each batch is one transaction that
    locks its due rows with ``SKIP LOCKED`` (a claim somebody is acting on right now is
    left to the next tick), moves them with :func:`lifecycle.transition_many` (one
    UPDATE, one audit append, the same legality table) and commits;
    the next batch continues after the last id, until nothing is due or the time budget
    (``DEADLINE_BUDGET_SECONDS``, below the beat interval) is spent. ``more_due`` says
    that the budget ran out first."""
    now = now or timezone.now()
    batch_size = batch_size or settings.DEADLINE_BATCH
    budget = settings.DEADLINE_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    give_up_at = time.monotonic() + budget
    actor = Actor.system("deadlines")
    moved = {"merchant_missed": 0, "buyer_missed": 0, "closed": 0, "batches": 0, "more_due": 0}
    for key, due, target, action, reason in _deadline_jobs(now):
        last_id = 0
        while True:
            if time.monotonic() > give_up_at:
                moved["more_due"] = 1
                return moved
            with transaction.atomic():
                batch = list(
                    due.filter(pk__gt=last_id)
                    .select_related("merchant", "order")  # the webhooks' payload
                    .order_by("pk")
                    .select_for_update(skip_locked=True, of=("self",))[:batch_size]
                )
                if target == S.IN_REVIEW:
                    entered = _enter_review_batch(
                        batch, key=key, actor=actor, action=action, reason=reason, now=now
                    )
                else:
                    entered = lifecycle.transition_many(
                        batch, to=target, actor=actor, action=action, reason=reason
                    )
                moved[key] += len(entered)
            moved["batches"] += 1
            if len(batch) < batch_size:
                break
            last_id = batch[-1].pk
    return moved


def _enter_review_batch(batch, *, key, actor, action, reason, now) -> list:
    """A batch of due claims (locked by the caller) into review, as :func:`_enter_review`
    moves one: each routed with the live rules at the ``review`` stage on its own inputs
    and the routing recorded (:func:`refunds.routing.route_many`: a few queries for the
    whole batch), its queue and review deadline set, then moved by
    :func:`lifecycle.transition_many` (one UPDATE, one audit append). A claim a deciding
    rule routed is then decided by the system, one by one (:func:`_auto_decide_locked`).
    A buyer's missed window closes its open evidence requests as missed."""
    if not batch:
        return []
    if key == "buyer_missed":
        EvidenceRequest.objects.filter(
            claim_id__in=[c.pk for c in batch], status=EvidenceRequest.Status.OPEN
        ).update(status=EvidenceRequest.Status.MISSED, closed_at=timezone.now())
    routed = routing.route_many(
        batch,
        stage=RoutingRecord.Stage.REVIEW,
        merchant_answered={
            c.pk: key != "merchant_missed" and bool(c.merchant_response) for c in batch
        },
    )

    def updates_for(claim):
        queue = routed[claim.pk][0]
        return {"queue": queue, "review_deadline": now + dt.timedelta(hours=queue.sla_hours)}

    def data_for(claim):
        queue, record = routed[claim.pk]
        return {"queue": queue.slug, "rule": record.rule_name or None}

    entered = lifecycle.transition_many(
        batch,
        to=S.IN_REVIEW,
        actor=actor,
        action=action,
        reason=reason,
        updates_for=updates_for,
        data_for=data_for,
    )
    return [
        _auto_decide_locked(claim, routed[claim.pk][1])
        if routed[claim.pk][1].auto_outcome
        else claim
        for claim in entered
    ]


@dataclass(frozen=True)
class BulkResult:
    claim_id: int
    done: bool
    reason: str = ""


def claims_decide_bulk(
    *,
    reviewer,
    claim_ids: list[int],
    outcome: str,
    rationale: str,
    confirmed_forgery: bool = False,
) -> list[BulkResult]:
    """One decision for many claims (e.g. the same reused photo from one buyer): each
    claim taken and decided in its own transaction, with its own audit events, as
    :func:`claim_assign` and :func:`claim_decide` would one by one; a claim either may
    not refuses alone (the reason is returned) and leaves the others decided. Each claim
    is let go of as it is decided, so a bulk decision adds nothing to the reviewer's
    open leases (a reviewer already at the cap is refused, as for one take)."""
    results = []
    for claim_id in claim_ids:
        claim = RefundClaim.objects.filter(pk=claim_id).first()
        if claim is None:
            results.append(BulkResult(claim_id, False, _("No such claim.")))
            continue
        try:
            with transaction.atomic():
                claim_assign(claim=claim, reviewer=reviewer)
                claim_decide(
                    claim=claim,
                    reviewer=reviewer,
                    outcome=outcome,
                    rationale=rationale,
                    confirmed_forgery=confirmed_forgery,
                )
        except ClaimError as exc:
            results.append(BulkResult(claim_id, False, exc.message))
        else:
            results.append(BulkResult(claim_id, True))
    return results


LEGAL_QUEUE_SLUG = "legal"


def claim_escalate_to_legal(*, claim: RefundClaim, reviewer, reason: str = "") -> RefundClaim:
    """The reviewer holding the claim sends it to the legal queue
    (:func:`refunds.policy.can_escalate_to_legal`) and lets go of it; recorded as
    ``escalated_to_legal`` with both queues. The legal queue is the claim's platform's."""
    with transaction.atomic():
        locked = _lock_claim(claim.pk)
        holder = _open_assignment_locked(locked.pk)
        policy.enforce(policy.can_escalate_to_legal(reviewer, locked, holder=holder))
        legal = ReviewQueue.objects.filter(
            tenant_id=locked.tenant_id, slug=LEGAL_QUEUE_SLUG, is_active=True
        ).first()
        if legal is None:
            raise ClaimValidationError(_("There is no active legal queue."))
        previous = locked.queue.slug if locked.queue else None
        _end_hold(locked)
        lifecycle.claim_change(locked, queue=legal)
        audit.record(
            action="escalated_to_legal",
            actor=Actor.of_user(reviewer),
            claim=locked,
            reason=reason,
            data={"from": previous, "to": legal.slug},
        )
    return locked


# --- SLA -------------------------------------------------------------------------------


def claims_escalate_overdue(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Move each waiting claim (in review or appealed, nobody holding it) past its
    queue's SLA to the queue's ``sla_escalate_to`` queue, once: a compare-and-set on the
    claim (same queue, not escalated yet, still waiting) under its lock, recorded as
    ``sla_escalated`` by ``system:sla`` with both queues. The new queue's SLA runs from
    now. Returns how many moved; queues without an escalation target only flag (the
    queues page counts them overdue)."""
    now = now or timezone.now()
    due = list(
        RefundClaim.objects.filter(
            status__in=(S.IN_REVIEW, S.APPEALED),
            held_by__isnull=True,
            review_deadline__lt=now,
            sla_escalated_at__isnull=True,
            queue__sla_escalate_to__is_active=True,
        )
        .order_by("review_deadline", "pk")
        .values_list("pk", "queue_id", "queue__slug", "queue__sla_escalate_to")[:limit]
    )
    targets = ReviewQueue.objects.in_bulk({row[3] for row in due})
    system = Actor.system("sla")
    moved = 0
    for claim_id, queue_id, slug, target_id in due:
        target = targets[target_id]
        with transaction.atomic():
            claim = (
                RefundClaim.objects.select_for_update(skip_locked=True).filter(pk=claim_id).first()
            )
            if claim is None:
                continue  # somebody is acting on it: the next sweep looks again
            # Under the lock the row is current: still in that queue, still waiting?
            if not (
                claim.queue_id == queue_id
                and claim.status in (S.IN_REVIEW, S.APPEALED)
                and claim.held_by_id is None
                and claim.sla_escalated_at is None
            ):
                continue
            lifecycle.claim_change(
                claim,
                touch=False,
                queue=target,
                sla_escalated_at=now,
                review_deadline=now + dt.timedelta(hours=target.sla_hours),
                updated_at=now,
            )
            audit.record(
                action="sla_escalated",
                actor=system,
                claim=claim,
                reason="review SLA passed",
                data={"from": slug, "to": target.slug, "deadline": claim.review_deadline},
            )
            moved += 1
    return moved


# --- Routing rules ----------------------------------------------------------------------


def review_queue_save(*, queue):
    """Save a review queue (new or changed) after :func:`refunds.routing.queue_problems`
    finds nothing wrong; raises Django's ``ValidationError`` by field otherwise."""
    from django.core.exceptions import ValidationError

    problems = routing.queue_problems(queue)
    if problems:
        raise ValidationError(problems)
    queue.save()
    return queue


def routing_rule_save(*, rule, merchants=None):
    """Save a routing rule (new or changed) after :func:`refunds.routing.rule_problems`
    finds nothing wrong; ``merchants`` (when given) replaces the shops it is limited to.
    Raises Django's ``ValidationError`` by field otherwise, nothing written."""
    from django.core.exceptions import ValidationError

    problems = routing.rule_problems(rule)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        rule.save()
        if merchants is not None:
            rule.merchants.set(merchants)
    return rule


# --- Webhook endpoints ------------------------------------------------------------------


def webhook_endpoint_create(
    *,
    client,
    url: str,
    event_types: list[str] | None = None,
    is_active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Register a platform client's endpoint; returns it and its signing secret (shown
    once). A URL that points at an internal service is refused (``outbound.TargetRefused``,
    a ClaimValidationError)."""
    outbound.check_url(url)
    secret = webhooks.new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            client=client,
            url=url,
            secret=secret,
            event_types=list(event_types or []),
            is_active=is_active,
        )
    return endpoint, secret


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change an endpoint's URL, event types or active flag; a new URL is vetted as in
    :func:`webhook_endpoint_create`, before anything changes."""
    allowed = {"url", "event_types", "is_active"}
    fields = [name for name in changes if name in allowed]
    if "url" in fields:
        outbound.check_url(changes["url"])
    for name in fields:
        setattr(endpoint, name, changes[name])
    if fields:
        endpoint.save(update_fields=fields)
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()
