"""Reads about merchants, scoped to who is asking."""

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.http import Http404

from evidence.models import EvidenceFile, Finding
from merchants.models import Membership, Merchant, Product, Shipment


def merchants_for_user(*, user) -> QuerySet[Merchant]:
    if not user.is_authenticated:
        return Merchant.objects.none()
    return Merchant.objects.filter(memberships__user=user, is_active=True).distinct()


def user_can_act_for(*, user, merchant_id: int) -> bool:
    return Membership.objects.filter(
        user=user, merchant_id=merchant_id, merchant__is_active=True
    ).exists()


def merchant_ids_for_user(*, user) -> list[int]:
    """The ids of the active shops the user acts for (what ``user_can_act_for`` asks of
    one shop, for all of them in one query)."""
    if not user.is_authenticated:
        return []
    return list(
        Membership.objects.filter(user=user, merchant__is_active=True).values_list(
            "merchant_id", flat=True
        )
    )


def shop_roles_for_user(*, user) -> dict[int, str]:
    """The user's role (``Membership.Role``) in each active shop they act for, by shop id."""
    if not user.is_authenticated:
        return {}
    return dict(
        Membership.objects.filter(user=user, merchant__is_active=True).values_list(
            "merchant_id", "role"
        )
    )


def memberships_for_user(*, user) -> QuerySet[Membership]:
    """The user's memberships of active shops, with the shop, by shop name."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return (
        Membership.objects.filter(user=user, merchant__is_active=True)
        .select_related("merchant")
        .order_by("merchant__name")
    )


# --- Products, listing photos, shipments: the portal's pages -----------------------------

REFERENCE_MATCH_CODES = (
    "reference_copy",
    "reference_altered_region",
    "reference_match_inconclusive",
)


def shop_for_user(*, user, shop_id=None) -> Merchant:
    """The shop a page is about: ``shop_id`` when the user acts for it, else (no choice
    made) the first of their shops by name. 404 for another shop, or for nobody's."""
    shops = merchants_for_user(user=user).order_by("name", "pk")
    if shop_id in (None, ""):
        shop = shops.first()
    else:
        try:
            shop = shops.filter(pk=int(shop_id)).first()
        except (TypeError, ValueError):
            shop = None
    if shop is None:
        raise Http404
    return shop


def _current_first():
    return EvidenceFile.objects.order_by(F("retired_at").asc(nulls_first=True), "pk")


MATCHED_CLAIMS_SHOWN = 10


def products_for_shop(*, merchant: Merchant) -> list[Product]:
    """The shop's products with their listing photos (current first, then retired),
    each photo with ``matched_claims``: the newest ``MATCHED_CLAIMS_SHOWN`` of the shop's
    claims whose photos the reference match found to be copies of it (claim id, number),
    and ``matched_more``: how many others did. Three queries."""
    products = list(
        Product.objects.filter(merchant=merchant)
        .order_by("title", "pk")
        .prefetch_related(
            Prefetch("photos", queryset=_current_first().defer("features"), to_attr="all_photos")
        )
    )
    photo_ids = [photo.pk for product in products for photo in product.all_photos]
    matches: dict[int, list[tuple[int, str]]] = {}
    for photo_id, claim_id, number in (
        Finding.objects.filter(
            related_evidence_id__in=photo_ids,
            code__in=REFERENCE_MATCH_CODES,
            claim__merchant=merchant,
        )
        .order_by("-claim_id")
        .values_list("related_evidence_id", "claim_id", "claim__platform_id")
        .distinct()
    ):
        matches.setdefault(photo_id, []).append((claim_id, number or f"#{claim_id}"))
    for product in products:
        for photo in product.all_photos:
            matched = matches.get(photo.pk, [])
            photo.matched_claims = matched[:MATCHED_CLAIMS_SHOWN]
            photo.matched_more = max(0, len(matched) - MATCHED_CLAIMS_SHOWN)
    return products


def product_for_user(*, user, product_id: int) -> Product:
    """One product of the user's shops, or 404."""
    try:
        return Product.objects.select_related("merchant").get(
            pk=product_id, merchant__in=merchants_for_user(user=user)
        )
    except Product.DoesNotExist as exc:
        raise Http404 from exc


def product_photo_for_user(*, user, photo_id: int) -> EvidenceFile:
    """One listing photo of the user's shops' products, or 404."""
    try:
        return EvidenceFile.objects.select_related("product__merchant").get(
            pk=photo_id,
            attached_to="product",
            product__merchant__in=merchants_for_user(user=user),
        )
    except EvidenceFile.DoesNotExist as exc:
        raise Http404 from exc


def shipments_for_shop(*, merchant: Merchant) -> QuerySet[Shipment]:
    """The shop's shipments, newest first, with their order and how many packing files
    (photos and videos, not the frames kept from videos) each has."""
    return (
        Shipment.objects.filter(order__merchant=merchant)
        .select_related("order")
        .annotate(
            packing_count=Count(
                "packing_evidence", filter=Q(packing_evidence__source_video__isnull=True)
            )
        )
        .order_by("-shipped_at", "-pk")
    )


def shipment_for_user(*, user, shipment_id: int) -> Shipment:
    """One shipment of the user's shops, or 404."""
    try:
        return Shipment.objects.select_related("order__merchant").get(
            pk=shipment_id, order__merchant__in=merchants_for_user(user=user)
        )
    except Shipment.DoesNotExist as exc:
        raise Http404 from exc


def packing_evidence_for_shipment(*, shipment: Shipment) -> list[EvidenceFile]:
    """The shipment's packing photos and videos, in upload order, each video with
    ``kept_frames``: the frames kept from it as references, in time order. Two queries."""
    files = list(
        EvidenceFile.objects.filter(shipment=shipment, source_video__isnull=True)
        .defer("features")
        .order_by("created_at", "pk")
        .prefetch_related(
            Prefetch(
                "frames",
                queryset=EvidenceFile.objects.defer("features").order_by("frame_time", "pk"),
                to_attr="kept_frames",
            )
        )
    )
    return files


def packing_frames_for_claim(*, claim) -> list[EvidenceFile]:
    """The packing-video frames a reference-match finding of ``claim`` points at, each
    with its source video, in the video's time order. One query."""
    return list(
        EvidenceFile.objects.filter(
            source_video__isnull=False,
            shipment__order_id=claim.order_id,
            pk__in=Finding.objects.filter(claim_id=claim.pk, code__in=REFERENCE_MATCH_CODES).values(
                "related_evidence_id"
            ),
        )
        .select_related("source_video")
        .defer("features", "source_video__features")
        .order_by("frame_time", "pk")
    )
