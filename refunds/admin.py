"""The refunds app's admin. Claims, decisions, appeals, assignments and audit events are
shown, never added, edited or deleted here: they change only through
:mod:`refunds.services`, which write the audit event. What an administrator may change
goes through a service too: "move to queue" (``claim_move_queue``), "release"
(``claim_release``), a webhook endpoint's URL and events (``webhook_endpoint_update``).
Secrets are not shown: a webhook endpoint's signing secret is given once, by the API."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from evidence.admin import (
    DeploymentSettingsAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ValidatedByServiceForm,
)
from evidence.models import EvidenceFile, Finding
from merchants.admin import PlatformScopedAdmin
from refunds import outbound, services, webhooks
from refunds.exceptions import ClaimError
from refunds.models import (
    Appeal,
    Assignment,
    AuditEvent,
    Buyer,
    ClaimReason,
    Decision,
    Order,
    OrderItem,
    PhotoVerdictCode,
    RationaleTemplate,
    RefundClaim,
    ReviewQueue,
    RoutingRule,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(Buyer)
class BuyerAdmin(PlatformScopedAdmin, ReadOnlyAdmin):
    """Read-only: buyers arrive from the platform's systems (``buyer_upsert`` through the
    API); each order keeps its own snapshot of their contact data."""

    list_display = ["display_name", "platform_id", "account_created_at", "created_at"]
    search_fields = ["display_name", "platform_id"]
    date_hierarchy = "created_at"


class OrderItemInline(ReadOnlyInline):
    model = OrderItem
    fields = ["product", "title", "unit_price", "quantity"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(PlatformScopedAdmin, ReadOnlyAdmin):
    """Read-only: an order is the platform's record of a sale (``order_create`` through
    the API), which claims are judged against; nobody edits it here."""

    platform_lookup = "merchant__tenant"
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


class MoveToQueueForm(admin.helpers.ActionForm):
    queue = forms.ModelChoiceField(
        queryset=ReviewQueue.objects.filter(is_active=True),
        required=False,
        label=_("to queue"),
    )


@admin.register(RefundClaim)
class RefundClaimAdmin(PlatformScopedAdmin, ReadOnlyAdmin):
    """Read-only: a claim changes only through the claim services. The buyer's and the
    merchant's words are theirs; the queue is changed by the "move to queue" action."""

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
    readonly_fields = [f.name for f in RefundClaim._meta.fields if f.name != "id"]
    inlines = [EvidenceInline, FindingInline, DecisionInline, AuditInline]
    action_form = MoveToQueueForm
    actions = ["move_to_queue"]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return f"¥{obj.amount:,.2f}"

    def _queues_for(self, request):
        from refunds import policy

        return policy.staff_platform_rows(
            ReviewQueue.objects.filter(is_active=True), request.user, ("tenant",)
        )

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        action_form = getattr(response, "context_data", {}).get("action_form")
        if action_form is not None:  # only the staff member's platform's queues
            action_form.fields["queue"].queryset = self._queues_for(request)
        return response

    @admin.action(description=_("Move the selected claims to the chosen queue"))
    def move_to_queue(self, request, queryset):
        field = forms.ModelChoiceField(queryset=self._queues_for(request), required=False)
        try:
            queue = field.clean(request.POST.get("queue"))
        except forms.ValidationError:
            queue = None
        if queue is None:
            messages.error(request, _("Choose the queue to move the claims to."))
            return
        moved = 0
        for claim in queryset:
            try:
                services.claim_move_queue(claim=claim, queue=queue, user=request.user)
            except ClaimError as exc:
                messages.error(request, f"#{claim.pk}: {exc.message}")
            else:
                moved += 1
        if moved:
            messages.success(
                request,
                _("%(count)s claim(s) moved to %(queue)s.") % {"count": moved, "queue": queue},
            )


class ReviewQueueForm(ValidatedByServiceForm):
    """Validated by the same function as the service (``refunds.routing.queue_problems``)."""

    class Meta:
        model = ReviewQueue
        fields = [
            "tenant",
            "slug",
            "name",
            "description",
            "priority",
            "sla_hours",
            "lease_minutes",
            "sla_escalate_to",
            "is_active",
        ]

    def problems(self, instance):
        from refunds.routing import queue_problems

        return queue_problems(instance)


@admin.register(ReviewQueue)
class ReviewQueueAdmin(PlatformScopedAdmin):
    """Queues, saved through ``services.review_queue_save``: a queue's platform and slug
    are fixed once it exists; past its SLA it escalates only within its platform."""

    form = ReviewQueueForm
    list_display = ["name", "slug", "priority", "sla_hours", "lease_minutes", "is_active"]
    list_editable = ["priority", "sla_hours", "lease_minutes", "is_active"]
    prepopulated_fields = {"slug": ["name"]}

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", "slug"] if obj is not None else []

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None else self.prepopulated_fields

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", ReviewQueueForm)
        return super().get_changelist_form(request, **kwargs)

    def save_model(self, request, obj, form, change):
        services.review_queue_save(queue=obj)


def _finding_code_choices():
    from refunds.routing import known_finding_codes

    return [(code, code) for code in sorted(known_finding_codes())]


class RoutingRuleForm(ValidatedByServiceForm):
    """The rule's code lists as tick boxes; validated by the same function as the
    service (``refunds.routing.rule_problems``)."""

    finding_codes = forms.MultipleChoiceField(
        label=_("has any finding code"), choices=_finding_code_choices, required=False
    )
    reasons = forms.MultipleChoiceField(
        label=_("claim reasons"), choices=ClaimReason.choices, required=False
    )
    photo_verdicts = forms.MultipleChoiceField(
        label=_("photo verdicts"),
        choices=PhotoVerdictCode.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = RoutingRule
        fields = [
            "position",
            "name",
            "queue",
            "is_active",
            "min_risk_score",
            "max_risk_score",
            "finding_codes",
            "min_amount",
            "max_amount",
            "reasons",
            "merchants",
            "min_buyer_claims_90d",
            "max_buyer_claims_90d",
            "min_buyer_claims_365d",
            "max_buyer_claims_365d",
            "min_confirmed_forgeries",
            "max_confirmed_forgeries",
            "fraud_tier",
            "photo_verdicts",
            "photo_verdicts_all",
            "merchant_answer",
            "auto_outcome",
        ]

    def problems(self, instance):
        from refunds.routing import rule_problems

        for name in ("finding_codes", "reasons", "photo_verdicts"):
            if name in self.cleaned_data:
                setattr(instance, name, list(self.cleaned_data[name]))
        return rule_problems(instance)


@admin.register(RoutingRule)
class RoutingRuleAdmin(PlatformScopedAdmin):
    """Saved through ``routing_rule_save`` (validated). "Simulate" (the policy
    simulator) tries a changed rule on the last days' claims before it is saved."""

    form = RoutingRuleForm
    platform_lookup = "queue__tenant"
    list_display = [
        "position",
        "name",
        "queue",
        "min_risk_score",
        "max_risk_score",
        "min_amount",
        "max_amount",
        "auto_outcome",
        "is_active",
    ]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    list_filter = ["queue", "is_active", "auto_outcome"]
    filter_horizontal = ["merchants"]

    def save_model(self, request, obj, form, change):
        merchants = form.cleaned_data.get("merchants") if "merchants" in form.fields else None
        try:
            services.routing_rule_save(rule=obj, merchants=merchants)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_simulate" in request.POST:
            simulated = self._simulate(request, object_id)
            if simulated is not None:
                return simulated
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _simulate(self, request, object_id):
        """The policy simulator: the rule as edited (not saved) in place of the live one,
        replayed on the last days' claims beside the live rules. None when the form has
        errors (the change form shows them)."""
        from django.template.response import TemplateResponse
        from django.urls import reverse

        from refunds import routing, simulator

        obj = self.get_object(request, object_id) if object_id else None
        if object_id and obj is None:
            return None
        if not (
            self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        ):
            return None
        form = self.get_form(request, obj)(request.POST, instance=obj)
        if not form.is_valid():
            return None
        try:
            days = min(max(int(request.POST.get("simulate_days", 30)), 1), 365)
        except ValueError:
            days = 30
        rule = form.instance
        spec = routing.RuleSpec.from_rule(
            rule, merchant_ids=[m.pk for m in form.cleaned_data.get("merchants", [])]
        )
        # The rule's platform (its queue's): only that platform's claims and rules.
        tenant_id = rule.queue.tenant_id
        proposed = simulator.with_rule_changed(
            routing.live_rules(tenant_id=tenant_id),
            spec,
            active=rule.is_active and rule.queue.is_active,
        )
        report = simulator.simulate(proposed=proposed, days=days, tenant_id=tenant_id)
        return TemplateResponse(
            request,
            "admin/refunds/routingrule/simulation.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "report": report,
                "rule_name": rule.name,
                "back_url": reverse("admin:refunds_routingrule_changelist"),
                "title": _("Policy simulator"),
            },
        )

    def save_related(self, request, form, formsets, change):
        # The shops were set by routing_rule_save; only inlines (none) would remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class RationaleTemplateForm(ValidatedByServiceForm):
    class Meta:
        model = RationaleTemplate
        fields = ["name", "outcome", "text_en", "text_zh", "is_active"]

    def problems(self, instance):
        return services.rationale_template_problems(instance)


@admin.register(RationaleTemplate)
class RationaleTemplateAdmin(DeploymentSettingsAdmin):
    """Rationales reviewers start from, in both languages, through
    ``services.rationale_template_save``. Placeholders: {claim}, {amount}, {refund},
    {shop}, {findings}; {{ and }} for a brace itself."""

    form = RationaleTemplateForm
    list_display = ["name", "outcome", "is_active"]
    list_filter = ["outcome", "is_active"]
    list_editable = ["is_active"]
    search_fields = ["name", "text_en", "text_zh"]

    def save_model(self, request, obj, form, change):
        services.rationale_template_save(template=obj, user=request.user)


@admin.register(Assignment)
class AssignmentAdmin(PlatformScopedAdmin, ReadOnlyAdmin):
    platform_lookup = "claim__tenant"
    """Read-only; a claim somebody holds is given back to its queue by the "release"
    action (``claim_release``: the audit trail names whose hold it was)."""

    list_display = ["claim", "reviewer", "for_appeal", "assigned_at", "expires_at", "released_at"]
    list_filter = ["for_appeal"]
    list_select_related = ["claim", "reviewer"]
    readonly_fields = [
        "claim",
        "reviewer",
        "for_appeal",
        "assigned_at",
        "last_activity_at",
        "expires_at",
        "released_at",
    ]
    actions = ["release"]

    @admin.action(description=_("Release the selected claims back to their queues"))
    def release(self, request, queryset):
        released = 0
        for assignment in queryset.filter(released_at__isnull=True).select_related("claim"):
            try:
                services.claim_release(claim=assignment.claim, reviewer=request.user)
            except ClaimError as exc:
                messages.error(request, f"#{assignment.claim_id}: {exc.message}")
            else:
                released += 1
        if released:
            messages.success(request, _("%(count)s claim(s) released.") % {"count": released})


@admin.register(Decision)
class DecisionAdmin(PlatformScopedAdmin, ReadOnlyAdmin):
    platform_lookup = "claim__tenant"
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


@admin.register(Appeal)
class AppealAdmin(PlatformScopedAdmin, ReadOnlyAdmin):
    platform_lookup = "claim__tenant"
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


@admin.register(AuditEvent)
class AuditEventAdmin(PlatformScopedAdmin, ReadOnlyAdmin):
    """Append-only: nobody edits or deletes audit events, not even a superuser. A
    platform's staff see the events of their platform's claims and the custody of its
    shops' listing and packing photos (``policy.staff_audit_events``); an event about
    neither only the deployment's operator."""

    platform_lookup = "claim__tenant"  # the superuser's platform filter

    def get_queryset(self, request):
        from refunds import policy

        return policy.staff_audit_events(admin.ModelAdmin.get_queryset(self, request), request.user)

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
class WebhookEndpointAdmin(PlatformScopedAdmin):
    platform_lookup = "client__tenant"
    """The URL, events and active flag can be changed (through the service); the signing
    secret is neither shown nor editable, and endpoints are registered through the API,
    which gives the secret once."""

    form = WebhookEndpointForm
    list_display = ["url", "client", "is_active", "created_at"]
    list_filter = ["is_active", "client"]
    fields = ["client", "url", "event_types", "is_active", "created_at"]
    readonly_fields = ["client", "created_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        editable = ("url", "event_types", "is_active")
        services.webhook_endpoint_update(
            endpoint=obj,
            **{name: form.cleaned_data[name] for name in form.changed_data if name in editable},
        )

    def delete_model(self, request, obj):
        services.webhook_endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.webhook_endpoint_delete(endpoint=endpoint)


class WebhookAttemptInline(ReadOnlyInline):
    """The delivery log: every try, as the delivery task saw it."""

    model = WebhookAttempt
    show_change_link = False
    fields = [
        "number",
        "started_at",
        "status_code",
        "latency_ms",
        "error",
        "response_excerpt",
        "resent_by",
    ]
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(PlatformScopedAdmin, ReadOnlyAdmin):
    platform_lookup = "endpoint__client__tenant"
    """The outbox, read-only: a delivery made or edited by hand would be signed and sent.
    Its attempts are listed below it; "re-send" goes through ``webhook_delivery_resend``."""

    inlines = [WebhookAttemptInline]
    actions = ["resend"]
    list_select_related = ["endpoint__client"]

    def has_resend_permission(self, request):
        return request.user.has_perm("refunds.change_webhookdelivery")

    @admin.action(description=_("Re-send the selected deliveries"), permissions=["resend"])
    def resend(self, request, queryset):
        sent = 0
        for delivery in queryset.select_related("endpoint__client"):
            try:
                webhooks.webhook_delivery_resend(delivery=delivery, user=request.user)
            except ClaimError as exc:
                messages.error(request, f"#{delivery.pk}: {exc.message}")
            else:
                sent += 1
        if sent:
            messages.success(request, _("%(count)s delivery(ies) queued again.") % {"count": sent})

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
