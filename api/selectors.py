"""Reads of the platform API, each scoped to one platform client.

A client sees the rows of the merchants it is bound to, of its own platform, and
nothing else; anything else is simply absent (404), never forbidden, so ids of other
tenants reveal nothing. The platform filter repeats what binding already guarantees
(``merchants.services`` binds a client only to its platform's shops): a row that
somehow crossed would still stay out of sight.
"""

from __future__ import annotations

from django.db.models import Count, F, QuerySet

from evidence.models import EvidenceFile, Finding
from merchants.models import Merchant, PlatformClient, Product
from refunds.models import Decision, Order, RefundClaim, WebhookEndpoint


def merchants_for_client(*, client: PlatformClient) -> QuerySet[Merchant]:
    return Merchant.objects.filter(platform_clients=client, tenant_id=client.tenant_id).order_by(
        "pk"
    )


def merchants_by_id(*, client: PlatformClient, ids) -> dict[int, Merchant]:
    """The client's merchants among ``ids`` (one query; others are simply absent)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {m.pk: m for m in merchants_for_client(client=client).filter(pk__in=ids)}


def products_by_id(*, client: PlatformClient, ids) -> dict[int, Product]:
    """The client's products among ``ids``, without the photo count (one query)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {
        p.pk: p
        for p in Product.objects.filter(
            pk__in=ids, merchant__platform_clients=client, merchant__tenant_id=client.tenant_id
        )
    }


def orders_by_id(*, client: PlatformClient, ids) -> dict[int, Order]:
    """The client's orders among ``ids``, with their shop and without their items (one
    query; others are simply absent)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {
        o.pk: o for o in orders_for_client(client=client).prefetch_related(None).filter(pk__in=ids)
    }


def products_for_client(*, client: PlatformClient) -> QuerySet[Product]:
    return (
        Product.objects.filter(
            merchant__platform_clients=client, merchant__tenant_id=client.tenant_id
        )
        .select_related("merchant")
        .annotate(photo_count=Count("photos"))
        .order_by("pk")
    )


def orders_for_client(*, client: PlatformClient) -> QuerySet[Order]:
    return (
        Order.objects.filter(
            merchant__platform_clients=client, merchant__tenant_id=client.tenant_id
        )
        .select_related("merchant", "buyer")
        .prefetch_related("items")
        .order_by("pk")
    )


def claims_for_client(*, client: PlatformClient) -> QuerySet[RefundClaim]:
    from django.db.models import Prefetch

    from refunds.models import RoutingRecord

    # A semi-join on the client's shops (``merchant_id IN (…)``) rather than a join
    # through the merchant: the claim index ranges serve it directly (issue 13).
    shops = PlatformClient.merchants.through.objects.filter(platformclient_id=client.pk)
    # What ``ClaimSerializer`` shows: the claim's own columns (the shop is its id), its
    # order's and queue's ids; and its latest routing record only, in one query a page
    # (a window over the page's claims), not every record of every claim.
    claim_columns = [field.attname for field in RefundClaim._meta.concrete_fields]
    latest_routing = RoutingRecord.objects.select_related("queue").order_by("-id")[:1]
    return (
        RefundClaim.objects.filter(
            merchant_id__in=shops.values("merchant_id"), tenant_id=client.tenant_id
        )
        .select_related("order", "queue")
        .only(*claim_columns, "order__platform_id", "queue__slug")
        .prefetch_related(
            Prefetch("routing_records", queryset=latest_routing, to_attr="routing_history")
        )
    )


def evidence_for_claim(*, claim: RefundClaim) -> QuerySet[EvidenceFile]:
    from evidence.selectors import CURRENT_VERDICTS

    return (
        EvidenceFile.objects.filter(claim=claim).prefetch_related(CURRENT_VERDICTS).order_by("pk")
    )


def findings_for_claim(*, claim: RefundClaim) -> QuerySet[Finding]:
    from evidence.selectors import findings_for_claim as evidence_findings

    return evidence_findings(claim_id=claim.pk)


def decisions_for_claim(*, claim: RefundClaim) -> QuerySet[Decision]:
    return Decision.objects.filter(claim=claim).order_by("created_at", "pk")


def webhook_endpoints_for_client(*, client: PlatformClient) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(client=client).order_by("pk")


def artifact_for_client(*, artifact_id: int, client_id: int):
    """The artifact when the client is active and bound to its claim's shop, else None."""
    from evidence.models import FindingArtifact

    return (
        FindingArtifact.objects.filter(
            pk=artifact_id,
            finding__claim__merchant__platform_clients__pk=client_id,
            finding__claim__merchant__platform_clients__is_active=True,
            finding__claim__tenant_id=F("finding__claim__merchant__platform_clients__tenant_id"),
        )
        .select_related("finding")
        .first()
    )
