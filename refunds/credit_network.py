"""The cross-platform buyer-credit network (跨平台用户消费信用机制) without sharing
personal data. docs/security.md ("Buyer-credit network") has the privacy design.

A platform that joins (``Platform.joins_credit_network``) contributes, per buyer with a
phone number, one :class:`~refunds.models.NetworkCreditContribution`: HMAC-SHA256 of the
normalised phone under the deployment's network key (``CREDIT_NETWORK_KEY``, which no
platform's staff sees) and the buyer's figures over 365 days — claims, orders (so the
refund-only rate), confirmed forgeries and the amount sought with them. A reviewer of a
member platform sees, for the buyer of the claim in front of them, the fraud tier the
whole network's forged amount crosses and each other member's counts under its
pseudonym: never another platform's claims, orders, names, phones or addresses. A
platform that has not joined (or has left) neither contributes nor sees.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, DateTimeField, F, Max, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from refunds.models import Buyer, NetworkCreditContribution, Order, RefundClaim
from refunds.selectors import FRAUD_TIERS

WINDOW = dt.timedelta(days=365)
# Figures of a buyer without new claims still age out of the 365-day window: they are
# recomputed at least this often.
STALE_AFTER = dt.timedelta(days=1)


def network_enabled() -> bool:
    return bool(settings.CREDIT_NETWORK_KEY)


def normalise_phone(phone: str) -> str:
    """Digits only, without China's country code, so "+86 138-0000-0000" and
    "13800000000" are one subject; "" when there is nothing usable."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits if len(digits) >= 6 else ""


def subject_hash(phone: str) -> str:
    """The buyer's pseudonym on the network: HMAC-SHA256 of the normalised phone under
    the network key. Without the key it cannot be recomputed from a phone number, so a
    leaked contribution table cannot be matched against a phone list. "" without a key
    or a usable phone."""
    identifier = normalise_phone(phone)
    if not identifier or not network_enabled():
        return ""
    key = settings.CREDIT_NETWORK_KEY.encode()
    return hmac.new(key, f"phone:{identifier}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CreditFigures:
    claims: int
    orders: int
    confirmed_forgeries: int
    forged_amount: Decimal

    @property
    def refund_only_rate(self) -> Decimal:
        if not self.orders:
            return Decimal("0")
        return (Decimal(self.claims) / Decimal(self.orders)).quantize(Decimal("0.01"))


def credit_figures(*, buyer_id: int, now: dt.datetime | None = None) -> CreditFigures:
    """The figures a platform contributes about its buyer: the last 365 days."""
    since = (now or timezone.now()) - WINDOW
    row = RefundClaim.objects.filter(buyer_id=buyer_id, created_at__gte=since).aggregate(
        claims=Count("pk"),
        confirmed_forgeries=Count("pk", filter=Q(confirmed_forgery=True)),
        forged_amount=Sum("amount", filter=Q(confirmed_forgery=True)),
    )
    return CreditFigures(
        claims=row["claims"],
        orders=Order.objects.filter(buyer_id=buyer_id, paid_at__gte=since).count(),
        confirmed_forgeries=row["confirmed_forgeries"],
        forged_amount=row["forged_amount"] or Decimal("0"),
    )


def _tier(amount: Decimal) -> str:
    return next((name for limit, name in FRAUD_TIERS if amount >= limit), "")


# --- Writes: contributions, refreshed in bounded batches -------------------------------


def credit_network_refresh(*, limit: int | None = None, now: dt.datetime | None = None) -> int:
    """Bring the contributions up to date, touching at most ``limit`` buyers
    (``CREDIT_NETWORK_REFRESH_BATCH``) a run; returns how many rows were written or
    removed. First the contributions of platforms that left the network (and, with the
    network off, every contribution) are removed; then the buyers of member platforms
    whose claims changed since their contribution, who have none yet, whose figures are
    older than a day or hashed under an older key are (re)computed, the longest waiting
    first. Safe to run twice and concurrently (each buyer's row is one upsert)."""
    limit = settings.CREDIT_NETWORK_REFRESH_BATCH if limit is None else limit
    now = now or timezone.now()
    leaving = NetworkCreditContribution.objects.all()
    if network_enabled():
        leaving = leaving.filter(tenant__joins_credit_network=False)
    gone = list(leaving.values_list("pk", flat=True)[:limit])
    NetworkCreditContribution.objects.filter(pk__in=gone).delete()
    if not network_enabled():
        return len(gone)
    version = settings.CREDIT_NETWORK_KEY_VERSION
    never = Value(dt.datetime(1970, 1, 1, tzinfo=dt.UTC), output_field=DateTimeField())
    due = (
        Buyer.objects.filter(tenant__joins_credit_network=True)
        .exclude(phone="")
        .annotate(
            last_change=Max("claims__updated_at"),
            refreshed=Coalesce("network_contribution__refreshed_at", never),
        )
        .filter(last_change__gte=now - WINDOW - STALE_AFTER)
        .filter(
            Q(network_contribution__isnull=True)
            | Q(last_change__gt=F("refreshed"))
            | Q(refreshed__lt=now - STALE_AFTER)
            | ~Q(network_contribution__key_version=version)
        )
        .order_by("refreshed", "pk")
        .values_list("pk", "tenant_id", "phone")[: max(limit - len(gone), 0)]
    )
    written = 0
    for buyer_id, tenant_id, phone in due:
        written += _contribute(buyer_id, tenant_id, phone, version=version, now=now)
    return len(gone) + written


def _contribute(buyer_id: int, tenant_id: int, phone: str, *, version: int, now) -> int:
    digest = subject_hash(phone)
    with transaction.atomic():
        if not digest:
            return NetworkCreditContribution.objects.filter(buyer_id=buyer_id).delete()[0]
        figures = credit_figures(buyer_id=buyer_id, now=now)
        NetworkCreditContribution.objects.update_or_create(
            buyer_id=buyer_id,
            defaults={
                "tenant_id": tenant_id,
                "subject_hash": digest,
                "key_version": version,
                "claims": figures.claims,
                "orders": figures.orders,
                "confirmed_forgeries": figures.confirmed_forgeries,
                "forged_amount": figures.forged_amount,
                "refreshed_at": now,
            },
        )
    return 1


# --- Reads: what a member platform's reviewer sees -------------------------------------


@dataclass(frozen=True)
class NetworkMember:
    """Another member's figures about the same person: its pseudonym and counts only."""

    label: str
    claims: int
    refund_only_rate: Decimal
    confirmed_forgeries: int
    forged_amount: Decimal


@dataclass(frozen=True)
class NetworkCredit:
    members: list[NetworkMember]  # the other platforms that know this person
    forged_amount: Decimal  # across the network, this platform's own included
    tier: str  # as BuyerCredit.tier, on ``forged_amount``

    @property
    def crosses_fraud_tier(self) -> bool:
        return bool(self.tier)


def _label(platform) -> str:
    return platform.network_pseudonym or _("Platform %(number)s") % {"number": platform.pk}


def network_credit_for_buyer(*, buyer: Buyer) -> NetworkCredit | None:
    """The network's view of ``buyer`` for a reviewer of the buyer's platform, or None
    when that platform is not a member, the network is off, or the buyer has no phone.
    Other members' rows are found by the identifier hash alone and reduced to counts
    under the member's pseudonym; the buyer's own platform counts with its live figures."""
    if not network_enabled() or not buyer.tenant.joins_credit_network:
        return None
    digest = subject_hash(buyer.phone)
    if not digest:
        return None
    others = (
        NetworkCreditContribution.objects.filter(
            subject_hash=digest,
            key_version=settings.CREDIT_NETWORK_KEY_VERSION,
            tenant__joins_credit_network=True,
        )
        .exclude(tenant_id=buyer.tenant_id)
        .select_related("tenant")
        .order_by("tenant_id")
    )
    members = [
        NetworkMember(
            label=_label(row.tenant),
            claims=row.claims,
            refund_only_rate=row.refund_only_rate,
            confirmed_forgeries=row.confirmed_forgeries,
            forged_amount=row.forged_amount,
        )
        for row in others
    ]
    own = credit_figures(buyer_id=buyer.pk).forged_amount
    total = own + sum((m.forged_amount for m in members), Decimal("0"))
    return NetworkCredit(members=members, forged_amount=total, tier=_tier(total))
