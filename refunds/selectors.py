"""Reads about claims, already scoped to the caller, with related rows fetched once."""

from __future__ import annotations

import datetime as dt
import functools
import operator
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from refunds.models import Assignment, Buyer, ClaimStatus, Order, Outcome, RefundClaim

S = ClaimStatus


def claims_for_merchant_user(*, user) -> QuerySet[RefundClaim]:
    """The claims of every shop the user acts for, and nothing else."""
    if not user.is_authenticated:
        return RefundClaim.objects.none()
    return (
        RefundClaim.objects.filter(merchant__memberships__user=user, merchant__is_active=True)
        .select_related("order", "merchant", "queue")
        .order_by("-created_at")
    )


def claim_for_merchant_user(*, user, claim_id: int) -> RefundClaim:
    """One claim of the user's shops, or 404 (another shop's claim does not exist for them)."""
    try:
        return claims_for_merchant_user(user=user).get(pk=claim_id)
    except RefundClaim.DoesNotExist as exc:
        raise Http404 from exc


def claims_awaiting_review(*, queue=None, reviewer=None) -> QuerySet[RefundClaim]:
    """Claims a reviewer may take: in review or appealed, nobody holding them
    (``held_by`` is kept with the open assignment by the services), most urgent first
    (queue priority, then the review deadline, then the oldest). ``status IN (…)`` is
    the predicate of the ``claim_take_next`` index; ``held_by IS NULL`` filters the rows
    its range yields (no index names ``held_by``: a take is then a HOT update).
    ``reviewer``: only their platform's claims."""
    from refunds import policy

    qs = RefundClaim.objects.filter(status__in=[S.IN_REVIEW, S.APPEALED], held_by__isnull=True)
    if queue is not None:
        qs = qs.filter(queue=queue)
    if reviewer is not None:
        qs = policy.scope_to_reviewer_platform(qs, reviewer)
    # NULLs last on both databases, as "take next" serves them (SQLite sorts them first).
    return qs.select_related("queue").order_by(
        F("queue__priority").asc(nulls_last=True),
        F("review_deadline").asc(nulls_last=True),
        "id",
    )


@dataclass(frozen=True)
class QueueToServe:
    pk: int | None  # None: the claims in review that have no queue
    slug: str | None
    lease_minutes: int
    priority: int = 0


def queues_in_take_order(*, waiting: QuerySet[RefundClaim], queue=None) -> list[QueueToServe]:
    """The queues holding at least one of the ``waiting`` claims, in the order "take
    next" serves them: active queues by priority, then inactive ones (their claims still
    wait for somebody). One query; inside it, one probe of the ``claim_take_next`` index
    per queue, whatever waits in them. ``queue`` narrows it to that queue."""
    return [QueueToServe(*row) for row in _queues_to_serve(waiting, queue.pk if queue else None)]


# The order "take next" serves queues in: active ones by priority, then inactive ones.
TAKE_ORDER = ("-is_active", "priority", "name", "pk")


def _queues_to_serve(waiting: QuerySet[RefundClaim], queue_id: int | None) -> QuerySet:
    """:func:`queues_in_take_order`'s query: :class:`QueueToServe` rows."""
    from refunds.models import ReviewQueue

    queues = ReviewQueue.objects.annotate(head=_head_of_queue(waiting)).filter(head__isnull=False)
    if queue_id is not None:
        queues = queues.filter(pk=queue_id)
    return _as_queues_to_serve(queues)


def _as_queues_to_serve(queues: QuerySet) -> QuerySet:
    return queues.order_by(*TAKE_ORDER).values_list("pk", "slug", "lease_minutes", "priority")


def _head_of_queue(waiting: QuerySet[RefundClaim]) -> Subquery:
    """The id of the first of ``waiting`` in each queue row's ``claim_take_next`` range,
    as a scalar subquery: PostgreSQL runs it once per queue, a probe that stops at the
    first claim. An ``EXISTS`` it turns into a join with every waiting claim instead (a
    hash of all of them, read from the heap, at 1M claims: docs/performance.md)."""
    head = waiting.filter(queue=OuterRef("pk")).order_by("queue_id", "review_deadline", "id")
    return Subquery(head.values("pk")[:1])


def queue_head(*, waiting: QuerySet[RefundClaim], queue_id: int | None) -> QuerySet[RefundClaim]:
    """The ``waiting`` claims of one queue (``None``: of no queue) in the order they are
    handed out, the review deadline, then the oldest: a range of the ``claim_take_next``
    index."""
    in_queue = Q(queue_id=queue_id) if queue_id is not None else Q(queue__isnull=True)
    # queue_id leads the ordering too (constant within the range): with it PostgreSQL sees
    # that the index yields this order even for ``queue_id IS NULL``, which it misjudges
    # (most claims have no queue) and otherwise sorted a scan of every open claim.
    return (
        waiting.select_related(None).filter(in_queue).order_by("queue_id", "review_deadline", "id")
    )


class TakeNextReads:
    """The reads of ``claim_take_next`` for one reviewer (and, optionally, one queue):
    how many claims they hold (:func:`refunds.policy.open_lease_count`), the queues
    holding a claim they may take (:func:`queues_in_take_order`) and the head of one
    queue, locked (:func:`queue_head` ``FOR UPDATE``, ``SKIP LOCKED`` or not). Their SQL
    is a function of the reviewer's id, their :class:`~refunds.policy.Roles` (the whole
    input of :func:`refunds.policy.takeable_by`) and the queue's id, nothing else: it is
    compiled from those querysets once and kept (:func:`take_next_reads`), so a take does
    not build and compile the same ORM expressions again (a few ms of Python per take,
    more than the statements' own execution: docs/performance.md, "take-next's
    Python")."""

    def __init__(
        self, waiting: QuerySet[RefundClaim], queue_id: int | None, leases: QuerySet[Assignment]
    ):
        self._waiting = waiting
        self._queue_id = queue_id
        # One row (the count) when the reviewer holds anything, none when not.
        self._leases = leases.order_by().values("reviewer_id").annotate(n=Count("*"))
        self._leases_sql: tuple[str, tuple] | None = None
        self._queues_sql: tuple[str, tuple] | None = None
        self._heads_sql: dict[tuple[int | None, bool], tuple[str, tuple]] = {}

    def open_lease_count(self) -> int:
        """:func:`refunds.policy.open_lease_count` of the reviewer."""
        from django.db import connection

        if self._leases_sql is None:
            self._leases_sql = self._leases.values_list("n").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(*self._leases_sql)
            row = cursor.fetchone()
        return row[0] if row else 0

    def queues(self) -> list[QueueToServe]:
        """:func:`queues_in_take_order` of the reviewer's waiting claims."""
        from django.db import connection

        if self._queues_sql is None:
            self._queues_sql = _queues_to_serve(
                self._waiting, self._queue_id
            ).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(*self._queues_sql)
            return [QueueToServe(*row) for row in cursor.fetchall()]

    def head(self, queue_id: int | None, *, skip_locked: bool) -> RefundClaim | None:
        """The first claim of :func:`queue_head` in ``queue_id``, locked
        (``SELECT … FOR UPDATE [SKIP LOCKED] OF`` the claim, ``LIMIT 1``); call it in
        a transaction."""
        key = (queue_id, skip_locked)
        if key not in self._heads_sql:
            head = queue_head(waiting=self._waiting, queue_id=queue_id).select_for_update(
                skip_locked=skip_locked, of=("self",)
            )
            self._heads_sql[key] = head[:1].query.sql_with_params()
        sql, params = self._heads_sql[key]
        return next(iter(RefundClaim.objects.raw(sql, params)), None)


_TAKE_NEXT_READS: dict[tuple, TakeNextReads] = {}
_TAKE_NEXT_READS_KEPT = 1024  # reviewers × queues; past it, start again


def take_next_reads(*, reviewer, queue=None) -> TakeNextReads:
    """The reviewer's :class:`TakeNextReads` (in ``queue``, when given): the claims
    waiting for review that :func:`refunds.policy.takeable_by` lets them take. Kept per
    reviewer id, roles and queue id, so a change of the reviewer's groups, shops or
    platform (new roles) compiles new statements."""
    from refunds import policy

    key = (reviewer.pk, policy.roles(reviewer), queue.pk if queue is not None else None)
    reads = _TAKE_NEXT_READS.get(key)
    if reads is None:
        if len(_TAKE_NEXT_READS) >= _TAKE_NEXT_READS_KEPT:
            _TAKE_NEXT_READS.clear()
        waiting = policy.takeable_by(claims_awaiting_review().order_by(), reviewer)
        reads = _TAKE_NEXT_READS[key] = TakeNextReads(waiting, key[2], policy.open_leases(reviewer))
    return reads


def most_urgent_waiting(*, limit: int, reviewer=None) -> list[RefundClaim]:
    """The first ``limit`` of :func:`claims_awaiting_review`, in its order, without
    sorting everything that waits: the head of each queue's ``claim_take_next`` index
    range, queue by queue in priority order (queues of one priority merged by deadline),
    until ``limit`` are found; the claims of no queue come last. Sorting the joined
    queues' priority over every waiting claim read them all (≈190 ms at 1M claims,
    docs/performance.md); reading ``limit`` of every queue read claims a busy first queue
    leaves off the list. With ``reviewer``: what that reviewer's platform holds only."""
    waiting = claims_awaiting_review(reviewer=reviewer)
    return first_in_take_order(
        waiting,
        queues=queues_in_take_order(waiting=waiting),
        limit=limit,
        related=("queue", "merchant"),
    )


def first_in_take_order(
    waiting: QuerySet[RefundClaim], *, queues: list[QueueToServe], limit: int, related=()
) -> list[RefundClaim]:
    """The first ``limit`` of ``waiting`` in "take next"'s order, read queue by queue
    (``queues``, in take order: active ones by priority, then inactive ones; neighbours
    of one priority merged by deadline; then the claims of no queue) from each queue's
    ``claim_take_next`` range, ``limit`` at most from each, stopping once ``limit`` are
    found; with ``related`` joined."""
    groups = [list(group) for _p, group in groupby(queues, key=operator.attrgetter("priority"))]
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    first: list[RefundClaim] = []
    for group in [*groups, [QueueToServe(None, None, 0)]]:
        wanted = limit - len(first)
        if wanted <= 0:
            break
        heads: list[RefundClaim] = []
        for served in group:
            heads += queue_head(waiting=waiting, queue_id=served.pk).select_related(*related)[
                :wanted
            ]
        heads.sort(key=lambda claim: (claim.review_deadline or never, claim.pk))
        first += heads[:wanted]
    return first


# Criminal Law art. 266 thresholds for fraud (数额较大 / 巨大 / 特别巨大), CNY.
FRAUD_TIERS: tuple[tuple[Decimal, str], ...] = (
    (Decimal("500000"), "especially_huge"),
    (Decimal("30000"), "huge"),
    (Decimal("3000"), "relatively_large"),
)
FRAUD_TIER_LABELS = {
    "relatively_large": _("Relatively large (数额较大)"),
    "huge": _("Huge (数额巨大)"),
    "especially_huge": _("Especially huge (数额特别巨大)"),
}


@dataclass(frozen=True)
class BuyerCredit:
    claims: int
    open_claims: int
    refunded_claims: int
    denied_claims: int
    confirmed_forgeries: int
    amount_refunded: Decimal
    amount_in_forged_claims: Decimal
    tier: str  # "" below 3,000 CNY (an administrative matter), else the highest tier crossed

    @property
    def crosses_fraud_tier(self) -> bool:
        return bool(self.tier)


def buyer_credit(*, buyer: Buyer | int) -> BuyerCredit:
    """A buyer's refund-only history. The fraud tier is computed on the amounts obtained
    or sought with evidence a reviewer confirmed as forged."""
    buyer_id = buyer if isinstance(buyer, int) else buyer.pk
    refunded = [Outcome.REFUND_APPROVED, Outcome.PARTIAL_REFUND, Outcome.RETURN_REQUIRED]
    row = RefundClaim.objects.filter(buyer_id=buyer_id).aggregate(
        claims=Count("pk"),
        open_claims=Count("pk", filter=~Q(status__in=[S.CLOSED, S.WITHDRAWN, S.DECIDED])),
        refunded_claims=Count("pk", filter=Q(outcome__in=refunded)),
        denied_claims=Count("pk", filter=Q(outcome=Outcome.REFUND_DENIED)),
        confirmed_forgeries=Count("pk", filter=Q(confirmed_forgery=True)),
        amount_refunded=Sum("refund_amount", filter=Q(outcome__in=refunded)),
        amount_in_forged_claims=Sum("amount", filter=Q(confirmed_forgery=True)),
    )
    forged = row["amount_in_forged_claims"] or Decimal("0")
    tier = next((name for limit, name in FRAUD_TIERS if forged >= limit), "")
    return BuyerCredit(
        claims=row["claims"],
        open_claims=row["open_claims"],
        refunded_claims=row["refunded_claims"],
        denied_claims=row["denied_claims"],
        confirmed_forgeries=row["confirmed_forgeries"],
        amount_refunded=row["amount_refunded"] or Decimal("0"),
        amount_in_forged_claims=forged,
        tier=tier,
    )


def buyer_claims_against_shop(*, buyer_id: int, merchant_id: int) -> QuerySet[RefundClaim]:
    """The buyer's claims against one shop, oldest first (what that shop already knows)."""
    return (
        RefundClaim.objects.filter(buyer_id=buyer_id, merchant_id=merchant_id)
        .select_related("order")
        .order_by("created_at", "pk")
    )


@dataclass(frozen=True)
class MerchantBuyerCredit:
    """What a merchant may know of a buyer's history: the buyer's claims against the
    merchant's own shop, and which fraud tier (if any) the platform-wide amount sought with
    evidence a reviewer confirmed as forged has crossed. Not that amount, and nothing of
    the buyer's claims against other shops."""

    claims_against_shop: list[RefundClaim]
    tier: str  # as BuyerCredit.tier

    @property
    def crosses_fraud_tier(self) -> bool:
        return bool(self.tier)


def buyer_credit_for_merchant(*, buyer: Buyer | int, merchant_id: int) -> MerchantBuyerCredit:
    """The merchant's view of a buyer's credit (see :class:`MerchantBuyerCredit`)."""
    buyer_id = buyer if isinstance(buyer, int) else buyer.pk
    return MerchantBuyerCredit(
        claims_against_shop=list(
            buyer_claims_against_shop(buyer_id=buyer_id, merchant_id=merchant_id)
        ),
        tier=buyer_credit(buyer=buyer_id).tier,
    )


@dataclass(frozen=True)
class BuyerHistory:
    """The buyer-history line of a merchant's claim page: platform-wide figures, nothing
    that names or describes another shop's claims."""

    claims_90_days: int
    claims_365_days: int
    orders: int
    claims: int
    confirmed_forgeries: int

    @property
    def refund_only_rate(self) -> int | None:
        """Claims per 100 orders (None for a buyer without orders on record)."""
        return round(100 * self.claims / self.orders) if self.orders else None


def buyer_history_for_merchant(*, buyer_id: int) -> BuyerHistory:
    """The figures of the buyer-history line, in two queries whatever the history."""
    from django.utils import timezone

    now = timezone.now()
    row = RefundClaim.objects.filter(buyer_id=buyer_id).aggregate(
        claims=Count("pk"),
        claims_90_days=Count("pk", filter=Q(created_at__gte=now - dt.timedelta(days=90))),
        claims_365_days=Count("pk", filter=Q(created_at__gte=now - dt.timedelta(days=365))),
        confirmed_forgeries=Count("pk", filter=Q(confirmed_forgery=True)),
    )
    return BuyerHistory(orders=Order.objects.filter(buyer_id=buyer_id).count(), **row)


# --- Reads for the browser pages --------------------------------------------------------


# The merchant inbox: filters, sorts and keyset ("cursor") pages. A page is read with
# ``WHERE (sort key) after (the last row shown) ... LIMIT n+1`` on an index named for the
# sort (migration 0013_inbox_indexes), never with OFFSET nor a COUNT(*) of the shop.

INBOX_SORTS = ("deadline", "amount", "risk", "date")
INBOX_RISK_BANDS = ("pending", "low", "medium", "high")
# Status of the claims the default sort puts first, by their merchant deadline.
_WAITING = S.AWAITING_MERCHANT


@dataclass(frozen=True)
class InboxFilters:
    """What the merchant asked the inbox for; every field optional."""

    q: str = ""
    status: str = ""
    risk: str = ""  # one of INBOX_RISK_BANDS
    reason: str = ""
    due_within_24h: bool = False
    has_signals: bool = False
    sort: str = "deadline"  # one of INBOX_SORTS


@dataclass(frozen=True)
class _Segment:
    """A run of the sorted inbox served by one index range: its own predicate and key
    (``(field, descending)`` pairs, the last one unique)."""

    where: Q
    key: tuple[tuple[str, bool], ...]


_BY_DATE = (("created_at", True), ("id", True))
_SEGMENTS: dict[str, tuple[_Segment, ...]] = {
    # Claims waiting for the shop's answer, soonest deadline first; then the rest by date.
    "deadline": (
        _Segment(Q(status=_WAITING), (("merchant_deadline", False), ("id", False))),
        _Segment(~Q(status=_WAITING), _BY_DATE),
    ),
    "amount": (_Segment(Q(), (("amount", True), ("id", True))),),
    # Scored claims, riskiest first; the ones not scored yet after them, by date.
    "risk": (
        _Segment(Q(risk_score__isnull=False), (("risk_score", True), ("id", True))),
        _Segment(Q(risk_score__isnull=True), _BY_DATE),
    ),
    "date": (_Segment(Q(), _BY_DATE),),
}


@dataclass(frozen=True)
class InboxPage:
    claims: list[RefundClaim]
    next_cursor: str  # "" on the last page


def _risk_band_q(band: str, thresholds: tuple[int, int]) -> Q:
    suspicious, high = thresholds
    return {
        "pending": Q(risk_score__isnull=True),
        "low": Q(risk_score__lt=suspicious),
        "medium": Q(risk_score__gte=suspicious, risk_score__lt=high),
        "high": Q(risk_score__gte=high),
    }[band]


def _search_q(text: str, shop_ids: list[int]) -> Q:
    """Claim number (``#12``, ``12`` or the platform's id), order number, the buyer's
    pseudonym, a product title. Each is matched in the table it lives in (the order
    number on ``order_unique_platform_id``, the texts on the trigram indexes of
    migration 0006 on PostgreSQL), never by joining the claims row by row.

    How they are combined depends on what the text looks like (docs/performance.md,
    "Merchant pages at 100k claims of one shop"): a number or an id (one word with a
    digit) matches a handful of claims, so their ids are one ``UNION`` and the page
    sorts those few; an ``OR`` there would be checked along the page's sort index
    through all of a busy shop's claims. Words (a product, a pseudonym) may match
    thousands, so the ``OR`` of hashed look-ups lets the sort index stop at the page's
    last row instead."""
    from refunds.models import Order, OrderItem

    text = text.strip()
    number = text.removeprefix("#")
    orders = Order.objects.filter(merchant_id__in=shop_ids, platform_id=text)
    conditions = [
        Q(platform_id=text),
        Q(order_id__in=orders.values("pk")),
        Q(buyer_id__in=Buyer.objects.filter(display_name__icontains=text).values("pk")),
        Q(order_id__in=OrderItem.objects.filter(title__icontains=text).values("order_id")),
    ]
    if number.isdigit() and len(number) < 19:
        conditions.append(Q(pk=int(number)))
    if text.split() == [text] and any(c.isdigit() for c in text):
        claims = RefundClaim.objects.filter(merchant_id__in=shop_ids).order_by()
        first, *others = (claims.filter(c).values("pk") for c in conditions)
        return Q(pk__in=first.union(*others))
    return functools.reduce(operator.or_, conditions)


def _after(key: tuple[tuple[str, bool], ...], values: list) -> Q:
    """Rows strictly after ``values`` in the order ``key``: (a > x) or (a = x and b > y)..."""
    after = Q()
    for i, (field, descending) in enumerate(key):
        step = Q(**{f"{field}__{'lt' if descending else 'gt'}": values[i]})
        for j in range(i):
            step &= Q(**{key[j][0]: values[j]})
        after |= step
    # The same bound on the first field alone, redundant but a plain range: PostgreSQL
    # starts the index scan there instead of filtering every entry before the cursor.
    first, descending = key[0]
    return Q(**{f"{first}__{'lte' if descending else 'gte'}": values[0]}) & after


def _encode_cursor(segment: int, claim: RefundClaim, key) -> str:
    import base64
    import json

    # Full precision (DjangoJSONEncoder would cut datetimes to milliseconds, and the
    # next page would then repeat or skip rows).
    values = [
        value.isoformat() if isinstance(value, dt.datetime) else str(value)
        for value in (getattr(claim, field) for field, _desc in key)
    ]
    raw = json.dumps([segment, values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[int, list] | None:
    """The segment and key values a cursor holds; None for a cursor we did not make."""
    import base64
    import binascii
    import json

    from django.utils.dateparse import parse_datetime

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        segment, values = json.loads(raw)
        key = _SEGMENTS[sort][segment].key
        if len(values) != len(key):
            return None
        parsed = []
        for (field, _desc), value in zip(key, values, strict=True):
            if field in ("created_at", "merchant_deadline"):
                value = parse_datetime(value)
                if value is None:
                    return None
            elif field == "amount":
                value = Decimal(value)
            else:
                value = int(value)
            parsed.append(value)
    except (ValueError, TypeError, KeyError, IndexError, binascii.Error, ArithmeticError):
        return None
    return segment, parsed


def merchant_inbox_scope(*, user, shop: str):
    """The user's active shops (for the switcher, by name) and the ids the inbox reads:
    all of them (``shop`` empty or "all") or the one asked for; 404 for a shop the user
    does not act for (it does not exist for them)."""
    from merchants.models import Merchant

    shops = list(
        Merchant.objects.filter(memberships__user=user, is_active=True).order_by("name", "pk")
    )
    if shop in ("", "all"):
        return shops, [s.pk for s in shops]
    chosen = [s.pk for s in shops if str(s.pk) == shop]
    if not chosen:
        raise Http404
    return shops, chosen


def merchant_inbox_claims(
    *, shop_ids: list[int], filters: InboxFilters, thresholds: tuple[int, int]
) -> QuerySet[RefundClaim]:
    """The claims of ``shop_ids`` matching ``filters``, unordered. ``shop_ids`` come from
    :func:`merchant_inbox_scope`: that is the scope."""
    from django.db.models import F
    from django.utils import timezone

    from evidence.models import Finding

    qs = RefundClaim.objects.filter(merchant_id__in=shop_ids)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.reason:
        qs = qs.filter(reason=filters.reason)
    if filters.risk:
        qs = qs.filter(_risk_band_q(filters.risk, thresholds))
    if filters.due_within_24h:
        qs = qs.filter(
            status=_WAITING, merchant_deadline__lte=timezone.now() + dt.timedelta(hours=24)
        )
    if filters.has_signals:
        qs = qs.filter(Exists(Finding.objects.filter(claim=OuterRef("pk"), weight__gt=0)))
    if filters.q.strip():
        qs = qs.filter(_search_q(filters.q, shop_ids))
    # Of the buyer only the display name (a pseudonym) is read.
    return qs.select_related("order", "merchant").annotate(buyer_name=F("buyer__display_name"))


def merchant_inbox_page(
    *,
    shop_ids: list[int],
    filters: InboxFilters,
    thresholds: tuple[int, int],
    cursor: str = "",
    size: int = 20,
) -> InboxPage:
    """One page of the inbox after ``cursor`` (the ``next_cursor`` of the previous page;
    a cursor that does not decode starts again at the top). One query per sort segment the
    page spans (one or two), plus one for the order items."""
    from django.db.models import Prefetch, prefetch_related_objects

    from refunds.models import OrderItem

    base = merchant_inbox_claims(shop_ids=shop_ids, filters=filters, thresholds=thresholds)
    sort = filters.sort if filters.sort in INBOX_SORTS else "deadline"
    segments = _SEGMENTS[sort]
    decoded = _decode_cursor(cursor, sort) if cursor else None
    start, values = decoded if decoded else (0, None)
    # "Due within 24 h" is a filter on claims waiting for the merchant.
    status = filters.status or (_WAITING if filters.due_within_24h else "")
    rows: list[tuple[int, RefundClaim]] = []
    for index in range(start, len(segments)):
        segment = segments[index]
        # A status filter that the segment excludes makes it empty: skip the query.
        if status and not _status_may_match(segment.where, status):
            continue
        qs = base.filter(segment.where)
        if values is not None and index == start:
            qs = qs.filter(_after(segment.key, values))
        order = [f"-{field}" if desc else field for field, desc in segment.key]
        wanted = size + 1 - len(rows)
        rows.extend((index, claim) for claim in qs.order_by(*order)[:wanted])
        if len(rows) > size:
            break
    shown = rows[:size]
    next_cursor = ""
    if len(rows) > size:
        index, last = shown[-1]
        next_cursor = _encode_cursor(index, last, segments[index].key)
    claims = [claim for _index, claim in shown]
    prefetch_related_objects(
        claims, Prefetch("order__items", queryset=OrderItem.objects.order_by("pk"))
    )
    return InboxPage(claims=claims, next_cursor=next_cursor)


def _status_may_match(where: Q, status: str) -> bool:
    if where == Q(status=_WAITING):
        return status == _WAITING
    if where == ~Q(status=_WAITING):
        return status != _WAITING
    return True


def merchant_inbox_waiting(*, shop_ids: list[int]) -> int:
    """How many claims of the shops wait for their answer (from the status counters)."""
    return claim_status_counts(shop_ids=shop_ids).get(_WAITING, 0)


def claim_status_counts(*, shop_ids: list[int] | None = None, tenant_id: int | None = None):
    """{status: claims} of these shops (or of one platform, or everywhere) from the
    counters the lifecycle keeps (``ClaimStatusCount``): a few rows per shop and status,
    whatever the number of claims. Statuses without claims are left out."""
    from django.db.models import Sum

    from refunds.models import ClaimStatusCount

    rows = ClaimStatusCount.objects.all()
    if shop_ids is not None:
        rows = rows.filter(merchant_id__in=shop_ids)
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    totals = rows.order_by().values("status").annotate(total=Sum("count"))
    return {row["status"]: row["total"] for row in totals if row["total"]}


def claim_timeline(*, claim_id: int):
    """The claim's audit events, oldest first."""
    from refunds.models import AuditEvent

    return AuditEvent.objects.filter(claim_id=claim_id).order_by("seq")


def review_queue_overview(*, reviewer=None):
    """Active queues, and inactive ones while claims wait in them (routing sends them no
    new claim; "take next" still serves what they hold, after the active queues), in
    that order, each with ``waiting``, ``appeals`` and ``overdue`` counts of the
    claims waiting (nobody holds them), whoever may take them, and ``takeable``: whether
    ``reviewer`` may take one of them (:func:`refunds.policy.takeable_condition`).
    ``reviewer``: only the queues and claims of their platform.

    Three queries whatever waits and whatever the number of queues: the queues, each with
    a probe of its ``claim_take_next`` index range for a claim the reviewer
    may take (it stops at the first; it reads past only the claims they may not take:
    appeals they decided first, their own shop's); the waiting counters
    (:mod:`refunds.queue_counts`); the claims due earlier in this hour."""
    from refunds import policy, queue_counts
    from refunds.models import ReviewQueue

    queues = ReviewQueue.objects.order_by(*TAKE_ORDER)
    tenant_id = None
    if reviewer is not None:
        queues = policy.scope_to_reviewer_platform(queues, reviewer)
        tenant_id = policy.roles(reviewer).platform_id
        takeable = policy.takeable_by(claims_awaiting_review(reviewer=reviewer), reviewer)
        queues = queues.annotate(may_take=_head_of_queue(takeable.select_related(None)))
    queues = list(queues)
    figures = queue_counts.waiting_by_queue(queue_ids=[q.pk for q in queues], tenant_id=tenant_id)
    for queue in queues:
        queue.waiting = figures[queue.pk]["waiting"]
        queue.appeals = figures[queue.pk]["appeals"]
        queue.overdue = figures[queue.pk]["overdue"]
        queue.takeable = queue.may_take is not None if reviewer is not None else queue.waiting > 0
    return [queue for queue in queues if queue.is_active or queue.waiting]


def claims_held_by(*, reviewer) -> QuerySet[RefundClaim]:
    """Claims the reviewer holds, most urgent first, each with ``lease_expires_at`` (when
    it goes back to its queue unless the reviewer works on it).

    Found through the reviewer's open assignments (``assignment_open_by_reviewer``), then
    the claims by primary key: no index of the claim table names ``held_by``, so that a
    take's write of it is a HOT update (``refunds.models.RefundClaim.Meta.indexes``). The
    services keep ``held_by`` and the one open assignment in step; ``held_by`` is checked
    on the few rows read all the same."""
    lease = Assignment.objects.filter(claim=OuterRef("pk"), released_at__isnull=True)
    leases = Assignment.objects.filter(reviewer=reviewer, released_at__isnull=True)
    return (
        RefundClaim.objects.filter(pk__in=leases.values("claim_id"), held_by=reviewer)
        .annotate(lease_expires_at=Subquery(lease.values("expires_at")[:1]))
        .select_related("queue", "merchant")
        .order_by("review_deadline", "id")
    )


def claim_for_reviewer(*, user, claim_id: int) -> RefundClaim:
    """Any claim of the reviewer's platform, for a reviewer; 404 for everybody else
    (another platform's claim does not exist for them)."""
    from refunds import policy

    if not policy.is_reviewer(user):
        raise Http404
    claims = policy.scope_to_reviewer_platform(RefundClaim.objects.all(), user)
    try:
        return claims.select_related("order", "merchant", "queue", "buyer__tenant").get(pk=claim_id)
    except RefundClaim.DoesNotExist as exc:
        raise Http404 from exc


def claim_holder(*, claim_id: int):
    """The open assignment of a claim (with its reviewer), or None."""
    return (
        Assignment.objects.filter(claim_id=claim_id, released_at__isnull=True)
        .select_related("reviewer")
        .first()
    )


def claim_decisions(*, claim_id: int):
    """A claim's decisions, newest first, with their reviewers."""
    from refunds.models import Decision

    return Decision.objects.filter(claim_id=claim_id).select_related("reviewer")


def claim_visible_to(*, user, claim_id: int) -> bool:
    """May the user see this claim's files: a reviewer of its platform, or a member of the
    claim's shop."""
    if not user.is_authenticated:
        return False
    from refunds import policy

    if claims_for_merchant_user(user=user).filter(pk=claim_id).exists():
        return True
    if not policy.is_reviewer(user):
        return False
    claims = RefundClaim.objects.filter(pk=claim_id)
    return policy.scope_to_reviewer_platform(claims, user).exists()


def claims_for_bulk(
    *,
    reviewer,
    queue_id=None,
    buyer_platform_id: str = "",
    finding_code: str = "",
    limit: int = 100,
) -> list[RefundClaim]:
    """The first ``limit`` waiting claims (as "take next" sees them, in its order) of
    the reviewer's platform, narrowed for a bulk decision: by queue, by buyer, by a
    finding code on the buyer's evidence; with the shop and the buyer.

    One queue or one buyer is one read (a queue's index range; a buyer's few claims).
    A finding code alone is read queue by queue (:func:`first_in_take_order`, every
    queue of the platform, active ones first), so that a common code stops at the
    first ``limit`` of the first queues instead of sorting every waiting claim that has
    it by its queue's priority (≈330 ms at 1M claims, docs/performance.md)."""
    from evidence.models import Finding
    from refunds import policy
    from refunds.models import ReviewQueue

    qs = claims_awaiting_review(reviewer=reviewer)
    if queue_id:
        qs = qs.filter(queue_id=queue_id)
    if buyer_platform_id:
        qs = qs.filter(buyer__platform_id=buyer_platform_id)
    if finding_code:
        qs = qs.filter(
            Exists(
                Finding.objects.filter(
                    claim_id=OuterRef("pk"),
                    code=finding_code,
                    evidence__submitted_by__in=["buyer", "platform"],
                )
            )
        )
    if queue_id or buyer_platform_id:
        return list(qs.select_related("merchant", "buyer")[:limit])
    queues = policy.scope_to_reviewer_platform(ReviewQueue.objects.all(), reviewer)
    served = [QueueToServe(*row) for row in _as_queues_to_serve(queues)]
    return first_in_take_order(qs, queues=served, limit=limit, related=("merchant", "buyer"))
