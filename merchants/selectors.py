"""Reads about merchants, scoped to who is asking."""

from django.db.models import QuerySet

from merchants.models import Membership, Merchant


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
