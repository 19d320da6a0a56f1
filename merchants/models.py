"""Shops on the platform, the people who act for them, their products and shipments."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from evidence.models import EvidenceFile

DEFAULT_PLATFORM_SLUG = "default"


class Platform(models.Model):
    """A marketplace served by this deployment (a tenant). Its clients, shops, buyers,
    review queues and reviewers belong to it; nothing crosses between platforms except
    the pseudonymous credit network it may join (``refunds.credit_network``).

    The foreign keys to it are named ``tenant``: ``platform_id`` already names, on every
    row, the platform's own id of that row."""

    slug = models.SlugField(_("slug"), unique=True)
    name = models.CharField(_("name"), max_length=100)
    joins_credit_network = models.BooleanField(
        _("joins the buyer-credit network"),
        default=False,
        help_text=_(
            "Contributes its buyers' keyed identifier hashes and credit figures to the "
            "network and sees other members' figures; never names, phones or claims."
        ),
    )
    network_pseudonym = models.CharField(
        _("name shown to other platforms"),
        max_length=100,
        blank=True,
        help_text=_("Empty: other members see “Platform <number>”."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("platform")
        verbose_name_plural = _("platforms")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


def default_platform_pk() -> int:
    """The default platform's key: what a row gets when its creator names no platform
    (every caller from before platforms existed). Created on first use."""
    platform, _created = Platform.objects.get_or_create(
        slug=DEFAULT_PLATFORM_SLUG, defaults={"name": "Default platform"}
    )
    return platform.pk


class PlatformStaff(models.Model):
    """The platform a reviewer works for: they see and take only its claims. A reviewer
    without this row works for the default platform; a superuser without it for all."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="platform_staff"
    )
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="staff")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("platform staff member")
        verbose_name_plural = _("platform staff")

    def __str__(self) -> str:
        return f"{self.user} @ {self.platform}"


class Merchant(models.Model):
    """A shop on the marketplace."""

    tenant = models.ForeignKey(
        Platform,
        on_delete=models.PROTECT,
        default=default_platform_pk,
        related_name="merchants",
        verbose_name=_("platform"),
    )
    platform_id = models.CharField(_("platform id"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "platform_id"], name="merchant_unique_platform_id"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user acting for a merchant. Owners manage the shop; agents answer claims."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        AGENT = "agent", _("Agent")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "merchant"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.get_role_display()})"


class Product(models.Model):
    """A product a merchant sells; its listing photos are the references checks compare to."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="products")
    platform_id = models.CharField(_("platform id"), max_length=64)
    title = models.CharField(_("title"), max_length=300)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["merchant", "title"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "platform_id"], name="product_unique_platform_id"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Shipment(models.Model):
    """A parcel sent for an order; packing photos and videos are attached to it."""

    order = models.ForeignKey("refunds.Order", on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(_("carrier"), max_length=100)
    tracking_number = models.CharField(_("tracking number"), max_length=100)
    shipped_at = models.DateTimeField(_("shipped at"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["-shipped_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"], name="shipment_unique_tracking"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class PlatformClient(models.Model):
    """A marketplace system calling the REST API with a token.

    It belongs to one platform and sees and writes only the merchants of that platform
    it is bound to. A client allowed to create merchants is bound to each merchant it
    creates.
    """

    tenant = models.ForeignKey(
        Platform,
        on_delete=models.PROTECT,
        default=default_platform_pk,
        related_name="clients",
        verbose_name=_("platform"),
    )
    name = models.CharField(_("name"), max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(_("token prefix"), max_length=8, editable=False)
    merchants = models.ManyToManyField(Merchant, related_name="platform_clients", blank=True)
    can_create_merchants = models.BooleanField(_("may create merchants"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("platform client")
        verbose_name_plural = _("platform clients")
        constraints = [
            models.CheckConstraint(
                condition=Q(is_active=True) | Q(revoked_at__isnull=False),
                name="platform_client_inactive_has_revoked_at",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def new_token() -> str:
        return "cl_" + secrets.token_urlsafe(32)


class _AttachedFilesManager(models.Manager):
    attached_to = ""

    def get_queryset(self):
        return super().get_queryset().filter(attached_to=self.attached_to)


class _ProductPhotoManager(_AttachedFilesManager):
    attached_to = "product"


class _PackingEvidenceManager(_AttachedFilesManager):
    attached_to = "shipment"


class ProductPhoto(EvidenceFile):
    """A listing (reference) photo of a product: an evidence file attached to a product.

    Files are one model (``evidence.EvidenceFile``) so ingestion, hashing and storage
    follow one set of rules; this proxy is the merchant's view of them.
    """

    objects = _ProductPhotoManager()

    class Meta:
        proxy = True
        verbose_name = _("product photo")
        verbose_name_plural = _("product photos")


class PackingEvidence(EvidenceFile):
    """A packing photo or video recorded before shipment, attached to a shipment."""

    objects = _PackingEvidenceManager()

    class Meta:
        proxy = True
        verbose_name = _("packing evidence")
        verbose_name_plural = _("packing evidence")
