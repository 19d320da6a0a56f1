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
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from refunds import audit, lifecycle, outbound, policy, routing, webhooks
from refunds.audit import Actor
from refunds.exceptions import (
    AlreadyExists,
    ClaimValidationError,
    NotAllowed,
    NothingToReview,
)
from refunds.models import (
    Appeal,
    Assignment,
    Buyer,
    ClaimStatus,
    Decision,
    Order,
    OrderItem,
    Outcome,
    RefundClaim,
    ReviewQueue,
    WebhookEndpoint,
)
from refunds.selectors import (
    QueueToServe,
    claims_awaiting_review,
    queue_head,
    queues_in_take_order,
)

S = ClaimStatus
log = logging.getLogger(__name__)


def _rules() -> dict[str, int]:
    return settings.CLAIMLENS


def _hours(name: str) -> dt.timedelta:
    return dt.timedelta(hours=_rules()[name])


# --- Buyers and orders ----------------------------------------------------------------


def buyer_upsert(
    *, platform_id: str, display_name: str, account_created_at=None, phone: str = ""
) -> Buyer:
    """Create the buyer or update its display data; the platform id is the identity."""
    buyer, created = Buyer.objects.get_or_create(
        platform_id=platform_id,
        defaults={
            "display_name": display_name,
            "account_created_at": account_created_at,
            "phone": phone,
        },
    )
    if not created:
        changed = {
            k: v
            for k, v in {
                "display_name": display_name,
                "account_created_at": account_created_at,
                "phone": phone,
            }.items()
            if v and getattr(buyer, k) != v
        }
        if changed:
            Buyer.objects.filter(pk=buyer.pk).update(**changed)
            buyer.refresh_from_db()
    return buyer


@dataclass(frozen=True)
class ItemInput:
    title: str
    unit_price: Decimal
    quantity: int = 1
    product: Any = None


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
) -> Order:
    """Record an order. The total defaults to the sum of its items and may not be less."""
    if not items:
        raise ClaimValidationError(_("An order needs at least one item."))
    for item in items:
        if item.quantity < 1 or item.unit_price < 0:
            raise ClaimValidationError(_("Item quantities must be ≥ 1 and prices ≥ 0."))
        if item.product is not None and item.product.merchant_id != merchant.pk:
            raise ClaimValidationError(_("An item's product belongs to another shop."))
    items_total = sum((i.unit_price * i.quantity for i in items), Decimal("0"))
    total = items_total if total_amount is None else total_amount
    if total < 0:
        raise ClaimValidationError(_("The order total cannot be negative."))
    if shipped_at and shipped_at < paid_at:
        raise ClaimValidationError(_("An order cannot ship before it is paid."))
    if delivered_at and (not shipped_at or delivered_at < shipped_at):
        raise ClaimValidationError(_("An order cannot be delivered before it ships."))
    try:
        with transaction.atomic():
            order = Order.objects.create(
                merchant=merchant,
                buyer=buyer,
                platform_id=platform_id,
                total_amount=total,
                paid_at=paid_at,
                shipped_at=shipped_at,
                delivered_at=delivered_at,
                shipping_address=shipping_address,
            )
            OrderItem.objects.bulk_create(
                OrderItem(
                    order=order,
                    product=i.product,
                    title=i.title,
                    quantity=i.quantity,
                    unit_price=i.unit_price,
                )
                for i in items
            )
    except IntegrityError as exc:
        raise AlreadyExists(
            _("An order with this platform id already exists for this shop.")
        ) from exc
    return order


# --- Claims -----------------------------------------------------------------------------


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
    if amount <= 0:
        raise ClaimValidationError(_("The amount claimed must be more than zero."))
    if amount > order.total_amount:
        raise ClaimValidationError(
            _("The amount claimed (¥%(amount)s) is more than the order total (¥%(total)s).")
            % {"amount": amount, "total": order.total_amount}
        )
    if order.claims.filter(status__in=lifecycle.OPEN_STATUSES).exists():
        raise AlreadyExists(_("This order already has an open refund claim."))
    try:
        with transaction.atomic():
            claim = RefundClaim.objects.create(
                order=order,
                merchant_id=order.merchant_id,
                buyer_id=order.buyer_id,
                platform_id=platform_id,
                amount=amount,
                order_total=order.total_amount,
                reason=reason,
                description=description,
                status=S.RECEIVED,
            )
            audit.record(
                action="claim_submitted",
                actor=actor,
                claim=claim,
                to_status=S.RECEIVED,
                data={"amount": str(amount), "reason": reason},
            )
            webhooks.emit_claim_event(claim, "claim.received", {})
    except IntegrityError as exc:
        raise AlreadyExists(
            _("This order already has an open refund claim, or the claim id is taken.")
        ) from exc
    _enqueue_evaluation(claim.pk)
    return claim


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
    claim_ids = list(
        RefundClaim.objects.filter(
            Q(status=S.RECEIVED, created_at__lt=received_before)
            | (
                Q(status__in=(S.RECEIVED, S.CHECKING))
                & ~Q(pk__in=_claims_with_unsettled_evidence(UNSETTLED))
            )
        )
        .order_by("pk")
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
    queue = routing.route(claim, score)
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
            # Evidence the reviewer asked for has been checked: back to the reviewer.
            queue = claim.queue or queue
            return lifecycle.transition(
                claim.pk,
                to=S.IN_REVIEW,
                actor=system,
                action="checks_completed",
                expected_from={S.CHECKING},
                reason="requested evidence checked",
                updates={
                    **updates,
                    "queue": queue,
                    "review_deadline": timezone.now() + dt.timedelta(hours=queue.sla_hours),
                },
                data={"risk_score": score.score},
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
        for name, value in updates.items():
            setattr(locked, name, value)
        fields = list(updates)
        if (
            locked.status == S.AWAITING_MERCHANT
            and suspicious
            and (before is None or before < score.suspicious_threshold)
            and locked.merchant_deadline
        ):
            extended = locked.created_at + _hours("MERCHANT_RESPONSE_HOURS_SUSPICIOUS")
            if extended > locked.merchant_deadline:
                locked.merchant_deadline = extended
                fields.append("merchant_deadline")
        if before != locked.risk_score or "merchant_deadline" in fields:
            locked.save(update_fields=[*fields, "updated_at"])
            audit.record(
                action="rescored",
                actor=system,
                claim=locked,
                data={"risk_score": locked.risk_score, "previous": before},
            )
    return locked


class MerchantResponse:
    ACCEPT = "accept"
    CONTEST = "contest"
    OFFER_RETURN = "offer_return"
    OFFER_PARTIAL = "offer_partial"
    ALL = (ACCEPT, CONTEST, OFFER_RETURN, OFFER_PARTIAL)


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
    if response not in MerchantResponse.ALL:
        raise ClaimValidationError(_("Unknown response."))
    if response != MerchantResponse.ACCEPT and len(statement.strip()) < 10:
        raise ClaimValidationError(
            _("Please explain your answer in a few words (at least 10 characters).")
        )
    if response == MerchantResponse.OFFER_PARTIAL:
        if offer_amount is None or not (Decimal("0") < offer_amount < claim.amount):
            raise ClaimValidationError(
                _("A partial refund must be more than ¥0 and less than the ¥%(amount)s claimed.")
                % {"amount": claim.amount}
            )
    else:
        offer_amount = None
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
                    "appeal_deadline": None,
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
        queue = locked.queue or routing.default_queue()
        return lifecycle.transition(
            locked.pk,
            to=S.IN_REVIEW,
            actor=actor,
            action=f"merchant_{response}",
            expected_from={S.AWAITING_MERCHANT},
            reason=statement,
            updates={
                "merchant_response": response,
                "merchant_statement": statement,
                "merchant_offer_amount": offer_amount,
                "queue": queue,
                "review_deadline": timezone.now() + dt.timedelta(hours=queue.sla_hours),
            },
            data={"offer_amount": str(offer_amount) if offer_amount else None},
        )


def claim_request_buyer_evidence(*, claim: RefundClaim, reviewer, message: str) -> RefundClaim:
    """The reviewer holding a claim in review asks the buyer for more evidence
    (:func:`refunds.policy.can_request_evidence`) and gives the claim back to its queue;
    checks run again on what arrives."""
    if not message.strip():
        raise ClaimValidationError(_("Say what evidence the buyer should send."))
    with transaction.atomic():
        locked = _lock_claim(claim.pk)
        holder = _open_assignment_locked(locked.pk)
        policy.enforce(policy.can_request_evidence(reviewer, locked, holder=holder))
        claim = lifecycle.transition(
            locked.pk,
            to=S.AWAITING_BUYER,
            actor=Actor.of_user(reviewer),
            action="buyer_evidence_requested",
            expected_from={S.IN_REVIEW},
            reason=message,
            updates={"buyer_deadline": timezone.now() + _hours("BUYER_EVIDENCE_HOURS")},
        )
        _end_hold(claim)
    return claim


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
        policy.enforce(policy.can_move_queue(user, locked))
        if locked.queue_id == queue.pk:
            return locked
        previous = locked.queue.slug if locked.queue else None
        locked.queue = queue
        locked.save(update_fields=["queue", "updated_at"])
        audit.record(
            action="queue_changed",
            actor=Actor.of_user(user),
            claim=locked,
            reason=reason,
            data={"from": previous, "to": queue.slug},
        )
    return locked


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
    RefundClaim.objects.filter(pk=claim.pk).update(held_by=reviewer)
    claim.held_by = reviewer
    return assignment


def _end_hold(claim: RefundClaim) -> None:
    """Close the claim's open assignment and clear its holder; call it holding the
    claim's lock (step 2)."""
    Assignment.objects.filter(claim_id=claim.pk, released_at__isnull=True).update(
        released_at=timezone.now()
    )
    if claim.held_by_id is not None:
        RefundClaim.objects.filter(pk=claim.pk).update(held_by=None)
        claim.held_by = None


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
    waiting = policy.takeable_by(claims_awaiting_review().order_by(), reviewer)
    with transaction.atomic():
        _lock_reviewer_leases(reviewer)
        held = policy.open_lease_count(reviewer)
        policy.enforce(policy.can_take_another(reviewer, open_leases=held))
        queues = queues_in_take_order(waiting=waiting, queue=queue)
        claim, served = _first_takeable(waiting, queues, reviewer, held)
        if claim is None and queue is None:
            # Claims in review without a queue (older data): served after every queue.
            # Rare, so one pass that waits for other takers' locks is enough.
            orphans = [QueueToServe(None, None, DEFAULT_LEASE_MINUTES)]
            claim, served = _first_takeable(waiting, orphans, reviewer, held, passes=(False,))
        if claim is None:
            raise NothingToReview()
        assignment = _start_hold(claim, reviewer, lease_minutes=served.lease_minutes)
        _record_assigned(claim, reviewer, assignment, served.slug)
    return claim


def _first_takeable(waiting, queues, reviewer, held, *, passes=(True, False)):
    """The first claim of ``queues`` (in order) the reviewer may take, locked: first
    skipping rows other transactions hold, then, when that found nothing, waiting for
    them (each becomes free again, or is gone: taken or moved)."""
    for skip_locked in passes:
        for served in queues:
            head = queue_head(waiting=waiting, queue_id=served.pk).select_for_update(
                skip_locked=skip_locked, of=("self",)
            )
            for claim in head[:1]:
                # The lock re-read the row, so it still waits and nobody holds it; the
                # policy has the last word on everything else.
                if policy.can_take(reviewer, claim, holder=None, open_leases=held):
                    return claim, served
                break
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
                RefundClaim.objects.filter(pk=claim.pk).update(held_by=None)
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
) -> RefundClaim:
    """The reviewer holding a claim decides it, in review or on appeal
    (:func:`refunds.policy.can_decide`: an appeal by a senior reviewer who did not decide
    the claim first)."""
    if outcome not in Outcome.values:
        raise ClaimValidationError(_("Unknown outcome."))
    if len(rationale.strip()) < 10:
        raise ClaimValidationError(_("Write a rationale of at least 10 characters."))
    refund_amount = _refund_for(outcome, claim, refund_amount)
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
            updates={"review_deadline": timezone.now() + _hours("REVIEW_SLA_HOURS")},
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
    queues: dict[int | None, ReviewQueue] = {}
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
                moved[key] += len(
                    lifecycle.transition_many(
                        batch,
                        to=target,
                        actor=actor,
                        action=action,
                        reason=reason,
                        updates_for=(
                            (lambda claim: _review_updates(claim, now, queues))
                            if target == S.IN_REVIEW
                            else None
                        ),
                    )
                )
            moved["batches"] += 1
            if len(batch) < batch_size:
                break
            last_id = batch[-1].pk
    return moved


def _review_updates(claim, now, queues) -> dict:
    """Back to review: the claim's queue (the default one without) and its SLA."""
    if claim.queue_id not in queues:
        queues[claim.queue_id] = (
            ReviewQueue.objects.get(pk=claim.queue_id)
            if claim.queue_id
            else routing.default_queue()
        )
    queue = queues[claim.queue_id]
    return {"queue": queue, "review_deadline": now + dt.timedelta(hours=queue.sla_hours)}


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
