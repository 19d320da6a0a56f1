"""The evidence app's admin: read-only. Files arrive through ``evidence_add`` and checks
write findings; nothing here changes or deletes either (a claim's record must stay whole).
Scoring weights and thresholds are written through ``evidence.services``.
Stored files have no public URL: a page shows a file's name, size and hash and links to
the views that stream it after checking who asks (``evidence.views``)."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from evidence.models import (
    CheckRun,
    EvidenceFile,
    EvidenceVerdict,
    Finding,
    FindingArtifact,
    ScoringThreshold,
    ScoringWeight,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added, changed or deleted here (the services write these rows)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under their parent, never added, changed or deleted there."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PlatformRowsAdmin(admin.ModelAdmin):
    """A listing narrowed to the platform of the staff member looking at it
    (``refunds.policy.staff_platform_rows``); its change pages 404 for another platform's
    row like the listing hides it. ``platform_lookups``: the paths from a row to its
    platform (any of them)."""

    platform_lookups: tuple[str, ...] = ("tenant",)

    def get_queryset(self, request):
        from refunds import policy

        return policy.staff_platform_rows(
            super().get_queryset(request), request.user, self.platform_lookups
        )


class ValidatedByServiceForm(forms.ModelForm):
    """A model form that shows what the service saving its row would refuse
    (``problems(instance)``: field → message; a field the form does not show gets a
    form-wide error) as its own errors, so that the admin's add and change pages and its
    list edits refuse what the service would, with the service's words."""

    def problems(self, instance) -> dict[str, str]:
        return {}

    def _post_clean(self):
        super()._post_clean()  # copies the cleaned values onto the instance
        if self.errors:
            return
        for name, message in self.problems(self.instance).items():
            self.add_error(name if name in self.fields else None, message)


class DeploymentSettingsAdmin(admin.ModelAdmin):
    """Settings every platform shares: read by a platform's staff, changed only by the
    deployment's operator (``refunds.policy.can_change_deployment_settings``). Rows are
    deleted through ``services.deployment_setting_delete``; a subclass saves through its
    service (``save_model``) and its ``form`` (a :class:`ValidatedByServiceForm`) serves
    the list edits too."""

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", self.form)
        return super().get_changelist_form(request, **kwargs)

    def delete_model(self, request, obj):
        from evidence import services

        services.deployment_setting_delete(row=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def _operator(self, request) -> bool:
        from refunds import policy

        return bool(policy.can_change_deployment_settings(request.user))

    def has_add_permission(self, request):
        return self._operator(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self._operator(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._operator(request) and super().has_delete_permission(request, obj)


# An evidence file belongs to a platform through its claim, its product or its shipment.
FILE_PLATFORM_LOOKUPS = (
    "claim__tenant",
    "product__merchant__tenant",
    "shipment__order__merchant__tenant",
)


class StoredFileAdmin(PlatformRowsAdmin, ReadOnlyAdmin):
    """An uploaded file (a claim's evidence, a listing or packing photo): its stored
    name, size and SHA-256, and links to the guarded views, never a storage URL (the
    private storage has none, and the original may hold GPS data)."""

    exclude = ["features", "original", "display"]
    platform_lookups = FILE_PLATFORM_LOOKUPS

    def get_readonly_fields(self, request, obj=None):
        hidden = set(self.exclude)
        return ["stored_file"] + [
            f.name for f in self.model._meta.fields if f.name != "id" and f.name not in hidden
        ]

    @admin.display(description=_("stored file"))
    def stored_file(self, obj):
        if not obj.original:
            return "-"
        links = format_html(
            '<a href="{}">{}</a>',
            reverse("evidence:original", args=[obj.uuid]),
            _("download the original (platform reviewers)"),
        )
        if obj.display:
            links = format_html(
                '{} · <a href="{}">{}</a>',
                links,
                reverse("evidence:display", args=[obj.uuid]),
                _("display copy"),
            )
        return format_html(
            "<code>{}</code><br>{} · SHA-256 <code>{}</code><br>{}",
            obj.original.name,
            _("%(size)s bytes") % {"size": f"{obj.size:,}"},
            obj.sha256,
            links,
        )


class FindingInline(admin.TabularInline):
    model = Finding
    fk_name = "evidence"
    extra = 0
    can_delete = False
    fields = ["code", "severity", "weight", "display_message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VerdictInline(FindingInline):
    """Every verdict the file had, per rules and check versions; the current one first."""

    model = EvidenceVerdict
    fields = ["verdict", "is_current", "version_key", "reasons", "created_at"]
    readonly_fields = fields
    ordering = ["-is_current", "-created_at"]


@admin.register(EvidenceFile)
class EvidenceFileAdmin(StoredFileAdmin):
    list_display = [
        "id",
        "original_name",
        "attached_to",
        "submitted_by",
        "status",
        "content_type",
        "size",
        "created_at",
    ]
    list_filter = ["status", "attached_to", "submitted_by", "content_type"]
    search_fields = ["original_name", "sha256", "claim__id"]
    date_hierarchy = "created_at"
    inlines = [VerdictInline, FindingInline]


@admin.register(CheckRun)
class CheckRunAdmin(PlatformRowsAdmin, ReadOnlyAdmin):
    platform_lookups = tuple(f"evidence__{lookup}" for lookup in FILE_PLATFORM_LOOKUPS)
    list_display = [
        "evidence",
        "check_name",
        "check_version",
        "status",
        "duration_ms",
        "started_at",
    ]
    list_filter = ["status", "check_name"]
    readonly_fields = [f.name for f in CheckRun._meta.fields if f.name != "id"]


class ArtifactInline(admin.TabularInline):
    model = FindingArtifact
    extra = 0
    can_delete = False
    fields = ["name", "caption", "image_link"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("image"))
    def image_link(self, obj):
        if not obj.image:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("evidence:artifact", args=[obj.pk]), _("open the image")
        )


@admin.register(Finding)
class FindingAdmin(PlatformRowsAdmin, ReadOnlyAdmin):
    platform_lookups = tuple(f"evidence__{lookup}" for lookup in FILE_PLATFORM_LOOKUPS)
    list_display = ["code", "severity", "weight", "evidence", "claim", "created_at"]
    list_filter = ["severity", "code"]
    search_fields = ["code", "claim__id"]
    readonly_fields = [f.name for f in Finding._meta.fields if f.name != "id"] + ["display_message"]
    inlines = [ArtifactInline]


class ScoringSettingAdmin(DeploymentSettingsAdmin):
    """A weight or a threshold: its key (``fixed_field``) is fixed once the row exists;
    deleting a row puts the default back."""

    fixed_field = ""

    def get_readonly_fields(self, request, obj=None):
        return [self.fixed_field] if obj is not None else []


class ScoringWeightForm(ValidatedByServiceForm):
    class Meta:
        model = ScoringWeight
        fields = ["code", "weight", "is_active", "description"]

    def problems(self, instance):
        from evidence.scoring import weight_problems

        return weight_problems(instance)


@admin.register(ScoringWeight)
class ScoringWeightAdmin(ScoringSettingAdmin):
    """A finding code's weight, through ``services.scoring_weight_save``: a new row's
    code is one a check reports."""

    form = ScoringWeightForm
    fixed_field = "code"
    list_display = ["code", "weight", "is_active", "description", "updated_at"]
    list_editable = ["weight", "is_active"]
    search_fields = ["code", "description"]

    def save_model(self, request, obj, form, change):
        from evidence import services

        services.scoring_weight_save(weight=obj, user=request.user)


class ScoringThresholdForm(ValidatedByServiceForm):
    class Meta:
        model = ScoringThreshold
        fields = ["name", "value", "description"]

    def problems(self, instance):
        from evidence.scoring import threshold_problems

        return threshold_problems(instance)


@admin.register(ScoringThreshold)
class ScoringThresholdAdmin(ScoringSettingAdmin):
    """The thresholds Claimlens reads ("suspicious", "high-risk"), through
    ``services.scoring_threshold_save``: suspicious ≤ high-risk."""

    form = ScoringThresholdForm
    fixed_field = "name"
    list_display = ["name", "value", "description"]
    list_editable = ["value"]

    def save_model(self, request, obj, form, change):
        from evidence import services

        services.scoring_threshold_save(threshold=obj, user=request.user)
