from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from evidence.models import EvidenceFile, Finding
from refunds import outbound
from refunds.models import (
    Appeal,
    Assignment,
    AuditEvent,
    Buyer,
    Decision,
    Order,
    OrderItem,
    RefundClaim,
    ReviewQueue,
    RoutingRule,
    WebhookDelivery,
    WebhookEndpoint,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Buyer)
class BuyerAdmin(admin.ModelAdmin):
    list_display = ["display_name", "platform_id", "account_created_at", "created_at"]
    search_fields = ["display_name", "platform_id"]
    date_hierarchy = "created_at"


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["platform_id", "merchant", "buyer", "total_amount", "paid_at", "delivered_at"]
    list_filter = ["merchant"]
    search_fields = ["platform_id", "buyer__platform_id", "buyer__display_name"]
    date_hierarchy = "paid_at"
    raw_id_fields = ["buyer"]
    inlines = [OrderItemInline]


class EvidenceInline(ReadOnlyInline):
    model = EvidenceFile
    fk_name = "claim"
    fields = ["original_name", "submitted_by", "status", "content_type", "width", "height"]
    readonly_fields = fields


class FindingInline(ReadOnlyInline):
    model = Finding
    fk_name = "claim"
    fields = ["code", "severity", "weight", "evidence", "display_message"]
    readonly_fields = fields


class DecisionInline(ReadOnlyInline):
    model = Decision
    fields = [
        "outcome",
        "refund_amount",
        "reviewer",
        "decided_by_merchant",
        "on_appeal",
        "rationale",
        "created_at",
    ]
    readonly_fields = fields


class AuditInline(ReadOnlyInline):
    model = AuditEvent
    fields = ["seq", "created_at", "actor_label", "action", "from_status", "to_status", "reason"]
    readonly_fields = fields
    show_change_link = False


@admin.register(RefundClaim)
class RefundClaimAdmin(admin.ModelAdmin):
    """Status, outcome and deadlines change only through the claim services (and so
    are read-only here); administrators can fix the queue and the free texts."""

    list_display = [
        "id",
        "merchant",
        "buyer",
        "amount_display",
        "reason",
        "status",
        "risk_score",
        "queue",
        "merchant_deadline",
        "created_at",
    ]
    list_filter = ["status", "reason", "queue", "outcome", "confirmed_forgery", "merchant"]
    search_fields = ["id", "platform_id", "order__platform_id", "buyer__platform_id"]
    date_hierarchy = "created_at"
    list_select_related = ["merchant", "buyer", "queue"]
    readonly_fields = [
        "order",
        "merchant",
        "buyer",
        "platform_id",
        "amount",
        "order_total",
        "status",
        "risk_score",
        "risk_reasons",
        "merchant_response",
        "merchant_offer_amount",
        "merchant_deadline",
        "buyer_deadline",
        "review_deadline",
        "appeal_deadline",
        "outcome",
        "refund_amount",
        "confirmed_forgery",
        "created_at",
        "updated_at",
        "decided_at",
    ]
    inlines = [EvidenceInline, FindingInline, DecisionInline, AuditInline]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return f"¥{obj.amount:,.2f}"

    def has_add_permission(self, request):
        return False  # claims arrive through the platform API or the services


@admin.register(ReviewQueue)
class ReviewQueueAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "priority", "sla_hours", "is_active"]
    list_editable = ["priority", "sla_hours", "is_active"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = [
        "position",
        "name",
        "queue",
        "min_risk_score",
        "max_risk_score",
        "min_amount",
        "finding_code",
        "min_buyer_claims",
        "is_active",
    ]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    list_filter = ["queue", "is_active"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["claim", "reviewer", "for_appeal", "assigned_at", "released_at"]
    list_filter = ["for_appeal"]
    raw_id_fields = ["claim"]
    readonly_fields = ["claim", "reviewer", "for_appeal", "assigned_at"]


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = [
        "claim",
        "outcome",
        "refund_amount",
        "reviewer",
        "decided_by_merchant",
        "on_appeal",
        "created_at",
    ]
    list_filter = ["outcome", "on_appeal", "confirmed_forgery"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Appeal)
class AppealAdmin(admin.ModelAdmin):
    list_display = ["claim", "filed_by", "created_at", "appeal_decision"]
    list_filter = ["filed_by"]
    readonly_fields = [
        "claim",
        "filed_by",
        "filed_by_user",
        "reason",
        "original_decision",
        "appeal_decision",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Append-only: nobody edits or deletes audit events, not even a superuser."""

    list_display = [
        "seq",
        "created_at",
        "claim",
        "actor_label",
        "action",
        "from_status",
        "to_status",
    ]
    list_filter = ["action", "to_status"]
    search_fields = ["claim__id", "actor_label", "reason"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WebhookEndpointForm(forms.ModelForm):
    def clean_url(self):
        # The same vetting as the service's (no internal targets): the admin saves directly.
        url = self.cleaned_data["url"]
        try:
            outbound.check_url(url)
        except outbound.TargetRefused as refused:
            raise forms.ValidationError(refused.message, code=refused.code) from None
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "client", "is_active", "created_at"]
    list_filter = ["is_active", "client"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "event_type"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "endpoint",
        "event_type",
        "payload",
        "status",
        "attempts",
        "last_error",
        "last_status_code",
        "delivered_at",
        "next_attempt_at",
    ]
