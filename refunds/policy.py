"""Who may do what with a claim: the one module that says so.

Every rule is a pure ``can_<action>(user, claim, ...)`` function (it reads, never
writes) returning a :class:`Verdict`: truthy when allowed, else falsy with a translated
reason. The services in :mod:`refunds.services` (and ``evidence.services.evidence_add``)
call these on the claim row they have just locked and raise on a refusal through
:func:`enforce`; views and templates call the same functions only to decide what to
show. A rule checked only in a view is a bug. ``docs/lifecycle.md`` ("Who may do what")
has the table of actions × roles × claim states.

Roles:

* **reviewer**: a member of the "reviewers" or "senior reviewers" group, or a superuser;
* **senior reviewer**: a member of "senior reviewers" (seeded by migration
  ``refunds/0002``), or a superuser. Only seniors decide appeals;
* **a reviewer works for one platform** (``merchants.PlatformStaff``; without that row the
  default platform, and a superuser without it every platform): they see, take, decide,
  release and move only that platform's claims (:func:`reviews_platform_of`);
* **merchant of the shop**: a user with a membership of the claim's (active) shop. A
  reviewer who acts for a shop never reviews that shop's claims. Agents and owners
  answer claims alike; only an **owner** manages the shop's members and products (the
  last section, enforced by ``merchants.services``).

A user's roles are read once per user object (two queries, three for a reviewer) and
kept on it, as Django keeps permissions (``_perm_cache``): a request sees the roles it
started with.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from refunds.exceptions import IllegalTransition, NotAllowed
from refunds.models import Assignment, ClaimStatus, Decision, RefundClaim

S = ClaimStatus
REVIEWER_GROUP = "reviewers"
SENIOR_GROUP = "senior reviewers"
REVIEW_STATUSES = frozenset({S.IN_REVIEW, S.APPEALED})
# The merchant's answer settled nothing yet: contested, or an offer a reviewer weighs.
ANSWERS_UNDER_REVIEW = frozenset({"contest", "offer_return", "offer_partial"})
# After such an answer the merchant may send more counter-evidence until the decision.
COUNTER_EVIDENCE_STATUSES = frozenset({S.CHECKING, S.AWAITING_BUYER, S.IN_REVIEW})
# The buyer's (or the platform's) evidence is accepted while nobody has decided.
BUYER_EVIDENCE_STATUSES = frozenset(
    {S.RECEIVED, S.CHECKING, S.AWAITING_MERCHANT, S.AWAITING_BUYER, S.IN_REVIEW}
)
MERCHANT_AUDIENCE = "merchant"
REVIEWER_AUDIENCE = "reviewer"


@dataclass(frozen=True)
class Verdict:
    """An answer of the policy. ``reason`` (translated) says why not; ``wrong_state``
    tells a refusal because of where the claim is (an illegal move: 409 in the API) from
    one because of who asks (403)."""

    allowed: bool
    reason: str = ""
    wrong_state: bool = False

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Verdict(True)


def _refused(reason: str) -> Verdict:
    return Verdict(False, reason)


def _not_now(reason: str) -> Verdict:
    return Verdict(False, reason, wrong_state=True)


def enforce(verdict: Verdict) -> None:
    """Raise the domain exception of a refusal: :class:`IllegalTransition` when the claim
    is in the wrong state, :class:`NotAllowed` when the user may not act."""
    if verdict:
        return
    if verdict.wrong_state:
        raise IllegalTransition(verdict.reason)
    raise NotAllowed(verdict.reason)


# --- Roles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roles:
    reviewer: bool
    senior: bool
    shop_ids: frozenset[int]
    owned_shop_ids: frozenset[int] = frozenset()  # the shops among them the user owns
    # The platform a reviewer works for; None: every platform (a superuser without one).
    platform_id: int | None = None


NOBODY = Roles(reviewer=False, senior=False, shop_ids=frozenset())


def roles(user) -> Roles:
    """The user's roles, read once per user object."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NOBODY
    cached = getattr(user, "_claimlens_roles", None)
    if cached is not None:
        return cached
    from merchants.models import Membership
    from merchants.selectors import shop_roles_for_user

    groups = set(
        user.groups.filter(name__in=(REVIEWER_GROUP, SENIOR_GROUP)).values_list("name", flat=True)
    )
    shops = shop_roles_for_user(user=user)
    reviewer = user.is_superuser or bool(groups)
    found = Roles(
        reviewer=reviewer,
        senior=user.is_superuser or SENIOR_GROUP in groups,
        shop_ids=frozenset(shops),
        owned_shop_ids=frozenset(
            shop_id for shop_id, role in shops.items() if role == Membership.Role.OWNER
        ),
        platform_id=_platform_of_reviewer(user) if reviewer else None,
    )
    user._claimlens_roles = found
    return found


def _platform_of_reviewer(user) -> int | None:
    """The platform the reviewer works for: their ``PlatformStaff`` row, else the default
    platform (every reviewer from before platforms existed), or None for a superuser
    without a row (the operator of the deployment)."""
    from merchants.models import DEFAULT_PLATFORM_SLUG, Platform, PlatformStaff, default_platform_pk

    # One query: the reviewer's platform and the default one, theirs first.
    staff = PlatformStaff.objects.filter(user_id=user.pk, platform=OuterRef("pk"))
    candidates = Platform.objects.filter(Exists(staff) | Q(slug=DEFAULT_PLATFORM_SLUG))
    rows = list(candidates.annotate(mine=Exists(staff)).values_list("pk", "mine"))
    for platform_id, mine in rows:
        if mine:
            return platform_id
    if user.is_superuser:
        return None
    return rows[0][0] if rows else default_platform_pk()


def is_reviewer(user) -> bool:
    return roles(user).reviewer


def reviewer_platform_id(user) -> int | None:
    """The platform whose claims the reviewer sees (None: all of them)."""
    return roles(user).platform_id


def staff_platform_id(user) -> int | None:
    """The platform whose rows a staff member sees in the admin (None: every platform,
    a superuser without a ``PlatformStaff`` row); read once per user object."""
    if not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, "_claimlens_staff_platform"):
        user._claimlens_staff_platform = _platform_of_reviewer(user)
    return user._claimlens_staff_platform


def staff_platform_rows(queryset: QuerySet, user, lookups: tuple[str, ...]) -> QuerySet:
    """``queryset`` (an admin listing) narrowed to the rows of the staff member's
    platform (:func:`staff_platform_id`); ``lookups`` are the paths from a row to its
    platform, any of which may hold (an evidence file belongs to a claim, a product or a
    shipment). A row reaching no platform (an audit event about no claim) is left out
    for a platform's staff; a superuser without a platform sees every row."""
    platform_id = staff_platform_id(user)
    if platform_id is None:
        return queryset
    condition = Q()
    for lookup in lookups:
        condition |= Q(**{lookup: platform_id})
    return queryset.filter(condition)


def staff_audit_events(queryset: QuerySet, user) -> QuerySet:
    """The audit trail a staff member reads in the admin: the events of their platform's
    claims, and the custody events of their platform's listing and packing photos (an
    event about a file of no claim, through the file's shop); an event about neither is
    the deployment operator's only. Everything for a superuser without a platform."""
    from evidence.models import EvidenceFile

    platform_id = staff_platform_id(user)
    if platform_id is None:
        return queryset
    files = EvidenceFile.objects.filter(pk=OuterRef("evidence_id")).filter(
        Q(product__merchant__tenant_id=platform_id)
        | Q(shipment__order__merchant__tenant_id=platform_id)
    )
    return queryset.filter(
        Q(claim__tenant_id=platform_id) | (Q(claim__isnull=True) & Exists(files))
    )


def can_change_deployment_settings(user) -> Verdict:
    """Change what every platform of the deployment shares (scoring weights and
    thresholds, rationale templates): the deployment's operator, a superuser. A
    platform's staff may read them: a change would move other platforms' claims."""
    if getattr(user, "is_superuser", False):
        return ALLOWED
    return _refused(_("Only the deployment's operator changes settings every platform shares."))


def reviews_platform_of(user, claim: RefundClaim) -> bool:
    """A reviewer of the claim's platform: the only reviewers who see or act on it."""
    found = roles(user)
    return found.reviewer and found.platform_id in (None, claim.tenant_id)


def scope_to_reviewer_platform(queryset: QuerySet, user, *, field: str = "tenant_id"):
    """``queryset`` (of claims, or of rows with a platform in ``field``) narrowed to the
    platform the reviewer works for; nothing for somebody who is not a reviewer."""
    found = roles(user)
    if not found.reviewer:
        return queryset.none()
    if found.platform_id is None:
        return queryset
    return queryset.filter(**{field: found.platform_id})


def is_senior_reviewer(user) -> bool:
    return roles(user).senior


def acts_for_shop(user, claim: RefundClaim) -> bool:
    """A member of the claim's shop (an active shop)."""
    return claim.merchant_id in roles(user).shop_ids


# --- What the rules need to know about a claim -------------------------------------------

# "Not looked up yet": a caller that has the holder (None = nobody) passes it.
UNKNOWN: Any = object()


def open_assignment(claim: RefundClaim) -> Assignment | None:
    return Assignment.objects.filter(claim_id=claim.pk, released_at__isnull=True).first()


def first_decider_ids(claim: RefundClaim) -> set[int]:
    """The reviewers who made the claim's first (not appeal) decisions."""
    return set(
        Decision.objects.filter(
            claim_id=claim.pk, on_appeal=False, reviewer__isnull=False
        ).values_list("reviewer_id", flat=True)
    )


def open_leases(user) -> QuerySet[Assignment]:
    """The user's open assignments: the claims they hold now."""
    return Assignment.objects.filter(reviewer_id=user.pk, released_at__isnull=True)


def open_lease_count(user) -> int:
    """How many claims the user holds now (their open assignments)."""
    return open_leases(user).count()


def _holder(claim, holder):
    return open_assignment(claim) if holder is UNKNOWN else holder


def _deciders(claim, deciders):
    return first_decider_ids(claim) if deciders is UNKNOWN else deciders


def _appeal_reviewer(user, claim, deciders) -> Verdict:
    """An appeal goes to a senior reviewer who did not decide the claim first."""
    if user.pk in _deciders(claim, deciders):
        return _refused(_("An appeal must be decided by a different reviewer."))
    if not is_senior_reviewer(user):
        return _refused(_("Appeals are decided by a senior reviewer."))
    return ALLOWED


def _reviewer_of(user, claim) -> Verdict:
    if not is_reviewer(user):
        return _refused(_("Only platform reviewers review claims."))
    if not reviews_platform_of(user, claim):
        return _refused(_("This claim belongs to another platform."))
    if acts_for_shop(user, claim):
        return _refused(_("You act for this claim's shop: another reviewer must review it."))
    return ALLOWED


# --- Reviewers ----------------------------------------------------------------------------


def can_take_another(user, *, open_leases: int | Any = UNKNOWN) -> Verdict:
    """Hold one more claim: a reviewer holds at most ``REVIEW_MAX_OPEN_LEASES`` claims
    at once (10), so that nobody can sit on a queue's head. ``open_leases`` is the count
    of the user's open assignments when the caller has it."""
    cap = settings.REVIEW_MAX_OPEN_LEASES
    held = open_lease_count(user) if open_leases is UNKNOWN else open_leases
    if held >= cap:
        return _refused(
            ngettext(
                "You already hold %(count)s claim, the most a reviewer may hold at once: "
                "decide or release it first.",
                "You already hold %(count)s claims, the most a reviewer may hold at once: "
                "decide or release one first.",
                cap,
            )
            % {"count": cap}
        )
    return ALLOWED


def can_take(
    user, claim: RefundClaim, *, holder=UNKNOWN, deciders=UNKNOWN, open_leases=UNKNOWN
) -> Verdict:
    """Take the claim from its queue: a reviewer, while it waits for review and nobody
    holds it; an appeal only a senior reviewer who did not decide the claim first; and
    only while the reviewer holds fewer claims than the cap (:func:`can_take_another`)."""
    if not (verdict := _reviewer_of(user, claim)):
        return verdict
    if claim.status not in REVIEW_STATUSES or _holder(claim, holder) is not None:
        return _not_now(_("This claim is not waiting for review, or somebody holds it."))
    if claim.status == S.APPEALED and not (verdict := _appeal_reviewer(user, claim, deciders)):
        return verdict
    return can_take_another(user, open_leases=open_leases)


def takeable_by(queryset: QuerySet[RefundClaim], user) -> QuerySet[RefundClaim]:
    """:func:`can_take` as a filter on claims waiting for review (what "take next" picks
    from): the same rule, for many claims in one query (the cap on the reviewer's leases
    is not about the claims: "take next" asks :func:`can_take_another` once)."""
    if not roles(user).reviewer:
        return queryset.none()
    return queryset.filter(takeable_condition(user))


def takeable_condition(user) -> Q:
    """:func:`takeable_by` as a condition on claims, for a count inside a larger query
    (the queue cards count what waits and, with this, what the reviewer may take: the
    reviewer who decided a claim first is never offered its appeal). Nothing for
    somebody who is not a reviewer."""
    found = roles(user)
    if not found.reviewer:
        return Q(pk__in=[])
    condition = Q(status__in=REVIEW_STATUSES) & ~Q(merchant_id__in=found.shop_ids)
    if found.platform_id is not None:
        condition &= Q(tenant_id=found.platform_id)
    if not found.senior:
        return condition & ~Q(status=S.APPEALED)
    decided_first = Decision.objects.filter(claim=OuterRef("pk"), on_appeal=False, reviewer=user)
    return condition & ~(Q(status=S.APPEALED) & Exists(decided_first))


def can_release(user, claim: RefundClaim, *, holder=UNKNOWN) -> Verdict:
    """Give the claim back to its queue: the reviewer holding it, or a senior reviewer
    (a claim held by somebody who is away must not be stuck)."""
    current = _holder(claim, holder)
    if current is None:
        return _not_now(_("Nobody holds this claim."))
    if current.reviewer_id == getattr(user, "pk", None):
        return ALLOWED
    if is_senior_reviewer(user) and reviews_platform_of(user, claim):
        return ALLOWED
    return _refused(_("Only the reviewer holding this claim can release it."))


def can_escalate_to_legal(user, claim: RefundClaim, *, holder=UNKNOWN) -> Verdict:
    """Send the claim to the legal queue (a buyer past a fraud tier, a matter for the
    police): the reviewer holding it, while it waits for a decision."""
    if not (verdict := _reviewer_of(user, claim)):
        return verdict
    if claim.status not in REVIEW_STATUSES:
        return _not_now(_("This claim is not waiting for a decision."))
    return _held_by(user, claim, holder)


def _held_by(user, claim, holder) -> Verdict:
    current = _holder(claim, holder)
    if current is None or current.reviewer_id != user.pk:
        return _refused(_("Take this claim from the queue before deciding it."))
    return ALLOWED


def can_decide(user, claim: RefundClaim, *, holder=UNKNOWN, deciders=UNKNOWN) -> Verdict:
    """Decide the claim: the reviewer holding it, in review or appealed; an appeal only a
    senior reviewer who did not decide the claim first."""
    if not (verdict := _reviewer_of(user, claim)):
        return verdict
    if claim.status not in REVIEW_STATUSES:
        return _not_now(_("This claim is not waiting for a decision."))
    if not (verdict := _held_by(user, claim, holder)):
        return verdict
    if claim.status == S.APPEALED:
        return _appeal_reviewer(user, claim, deciders)
    return ALLOWED


def can_request_evidence(user, claim: RefundClaim, *, holder=UNKNOWN) -> Verdict:
    """Ask the buyer for more evidence: only the reviewer holding the claim, only while
    it is in review (never while the merchant's answer window is open, nor on appeal)."""
    if not (verdict := _reviewer_of(user, claim)):
        return verdict
    if claim.status != S.IN_REVIEW:
        return _not_now(_("Only a claim in review can wait for the buyer's evidence."))
    current = _holder(claim, holder)
    if current is None or current.reviewer_id != user.pk:
        return _refused(_("Take this claim from the queue before asking for evidence."))
    return ALLOWED


QUEUE_MOVABLE_STATUSES = frozenset(
    {S.RECEIVED, S.CHECKING, S.AWAITING_MERCHANT, S.AWAITING_BUYER, S.IN_REVIEW, S.APPEALED}
)


def can_move_queue(user, claim: RefundClaim, queue=None) -> Verdict:
    """Move an undecided claim to another review queue (``queue``, when known): a senior
    reviewer of the claim's platform, or an administrator allowed to change claims (the
    admin's "move to queue" action); only to a queue of the claim's platform."""
    if not (is_senior_reviewer(user) or user.has_perm("refunds.change_refundclaim")):
        return _refused(_("Only a senior reviewer or an administrator can move claims."))
    if is_reviewer(user) and not reviews_platform_of(user, claim):
        return _refused(_("This claim belongs to another platform."))
    if queue is not None and queue.tenant_id != claim.tenant_id:
        return _refused(_("A claim moves only to a queue of its own platform."))
    if claim.status not in QUEUE_MOVABLE_STATUSES:
        return _not_now(_("A decided or closed claim stays in its queue."))
    return ALLOWED


# --- Merchants ----------------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def _merchant_of(user, claim) -> Verdict:
    if not acts_for_shop(user, claim):
        return _refused(_("Only the claim's shop can do that."))
    return ALLOWED


def _answer_window_open(claim: RefundClaim, now) -> bool:
    return claim.status == S.AWAITING_MERCHANT and (
        claim.merchant_deadline is None or _now(now) <= claim.merchant_deadline
    )


def can_respond(user, claim: RefundClaim, *, now: dt.datetime | None = None) -> Verdict:
    """Answer the claim (accept, contest, offer): the shop, while its window is open."""
    if not (verdict := _merchant_of(user, claim)):
        return verdict
    if claim.status != S.AWAITING_MERCHANT:
        return _not_now(_("This claim is not waiting for your answer."))
    if not _answer_window_open(claim, now):
        return _not_now(_("The time to answer this claim is over."))
    return ALLOWED


def can_add_counter_evidence(
    user, claim: RefundClaim, *, now: dt.datetime | None = None
) -> Verdict:
    """The shop's counter-evidence on a claim: with its answer while the answer window is
    open, then after contesting or making an offer until the claim is decided. Not before
    the shop is asked, not after it accepted or let the window pass, not on appeal.
    ``user`` None is the platform sending it through the API for the shop: the same
    moments apply."""
    if user is not None and not (verdict := _merchant_of(user, claim)):
        return verdict
    if _answer_window_open(claim, now):
        return ALLOWED
    if claim.merchant_response in ANSWERS_UNDER_REVIEW and claim.status in (
        COUNTER_EVIDENCE_STATUSES
    ):
        return ALLOWED
    return _not_now(_("This claim does not accept counter-evidence from the shop now."))


def can_add_claim_evidence(user, claim: RefundClaim, *, submitted_by: str) -> Verdict:
    """A file for the claim (``evidence.services.evidence_add``): the shop's
    counter-evidence by :func:`can_add_counter_evidence`; the buyer's (through the
    platform) while nobody has decided."""
    if submitted_by == "merchant":
        return can_add_counter_evidence(user, claim)
    if claim.status not in BUYER_EVIDENCE_STATUSES:
        return _not_now(
            _("This claim no longer accepts evidence (it is %(status)s).")
            % {"status": claim.get_status_display()}
        )
    return ALLOWED


def can_appeal(
    user,
    claim: RefundClaim,
    *,
    party: str = "merchant",
    decision: Decision | None | Any = UNKNOWN,
    now: dt.datetime | None = None,
) -> Verdict:
    """Appeal the decision: the shop (or the buyer, through the platform: ``user`` None),
    within the appeal window of a reviewer's decision; the shop's own acceptance, within
    the same window, by the shop only. ``decision`` is the claim's latest decision when
    the caller has it."""
    if party not in ("merchant", "buyer"):
        return _refused(_("Unknown party."))
    if party == "merchant" and not (verdict := _merchant_of(user, claim)):
        return verdict
    if claim.status != S.DECIDED or claim.appeal_deadline is None:
        return _not_now(_("This decision cannot be appealed."))
    if _now(now) > claim.appeal_deadline:
        return _not_now(_("The appeal window for this claim is closed."))
    latest = claim.decisions.order_by("-created_at").first() if decision is UNKNOWN else decision
    if latest is None:
        return _not_now(_("Only a reviewer's decision can be appealed."))
    if latest.decided_by_merchant and party != "merchant":
        # The shop's own acceptance gave the buyer everything asked: only the shop may
        # take it back to a reviewer (a mistake, or evidence it saw too late).
        return _not_now(_("Only the shop can appeal its own acceptance."))
    return ALLOWED


# Statuses in which a claim is over: nothing routes it anywhere any more.
FINISHED_STATUSES = frozenset({S.CLOSED, S.WITHDRAWN})


def can_flag_ai_suspect(user, claim: RefundClaim) -> Verdict:
    """Flag the buyer's photo as possibly AI-made (the claim goes to the forensic queue):
    a member of the claim's shop, owner or agent, once, while the claim is not closed or
    withdrawn."""
    if not (verdict := _merchant_of(user, claim)):
        return verdict
    if claim.status in FINISHED_STATUSES:
        return _not_now(_("This claim is closed: it can no longer be flagged."))
    if claim.ai_suspected_at is not None:
        return _not_now(_("This claim is already flagged as possibly AI-made."))
    return ALLOWED


# --- Both ---------------------------------------------------------------------------------


def evidence_pack_audience(user, claim: RefundClaim) -> str | None:
    """Which evidence pack the user gets: the shop's (narrower: no buyer contact data,
    no other shops' history) for a member of the claim's shop, even one who is also a
    reviewer; the reviewers' for a reviewer of the claim's platform; none for anybody
    else."""
    if acts_for_shop(user, claim):
        return MERCHANT_AUDIENCE
    if reviews_platform_of(user, claim):
        return REVIEWER_AUDIENCE
    return None


def can_export_evidence_pack(user, claim: RefundClaim) -> Verdict:
    """Export the claim's evidence pack: the claim's shop, or a platform reviewer."""
    if evidence_pack_audience(user, claim) is None:
        return _refused(str(NotAllowed.default_message))
    return ALLOWED


# --- Shops: members and products ----------------------------------------------------------
# Everybody acting for a shop answers its claims (above); running the shop is its owners'.
# ``merchants.services`` enforces these on the user performing the action.


def owns_shop(user, merchant) -> bool:
    """An owner of the (active) shop."""
    return merchant.pk in roles(user).owned_shop_ids


def can_manage_members(user, merchant) -> Verdict:
    """Add, remove or change the role of the shop's members: an owner of the shop."""
    if owns_shop(user, merchant):
        return ALLOWED
    return _refused(_("Only an owner of the shop can manage its members."))


def can_manage_products(user, merchant) -> Verdict:
    """Add or change the shop's products and their listing photos: an owner of the shop."""
    if owns_shop(user, merchant):
        return ALLOWED
    return _refused(_("Only an owner of the shop can manage its products."))


def can_add_packing_evidence(user, merchant) -> Verdict:
    """Add packing photos and videos to the shop's shipments: anybody acting for the shop
    (agents pack parcels too); they are never removed."""
    if merchant.pk in roles(user).shop_ids:
        return ALLOWED
    return _refused(_("Only the shop's people can add its packing evidence."))


# --- Webhooks -----------------------------------------------------------------------------


def can_resend_webhook(user, delivery) -> Verdict:
    """Send a webhook delivery again (the admin's "re-send"): staff allowed to change
    deliveries, for a delivered or failed one whose endpoint and client are active."""
    from refunds.models import WebhookDelivery

    if not (user.is_staff and user.has_perm("refunds.change_webhookdelivery")):
        return _refused(_("Only an administrator may re-send webhooks."))
    endpoint = delivery.endpoint
    if not (endpoint.is_active and endpoint.client.is_active):
        return _not_now(_("The endpoint or its client is inactive: nothing would be sent."))
    if delivery.status == WebhookDelivery.Status.PENDING:
        return _not_now(_("This delivery is already waiting to be sent."))
    return ALLOWED


# --- Statistics ---------------------------------------------------------------------------


def can_view_statistics(user) -> Verdict:
    """The reviewers' statistics (page and CSV): reviewers, of their own platform's figures
    only (:func:`statistics_platform_id`); a shop's people never see them."""
    if not roles(user).reviewer:
        return _refused(_("Only the platform's reviewers see the statistics."))
    return ALLOWED


def statistics_platform_id(user) -> int | None:
    """The platform whose figures the reviewer sees (None: every platform, a superuser
    working for none)."""
    return roles(user).platform_id
