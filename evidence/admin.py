from django.contrib import admin

from evidence.models import (
    CheckRun,
    EvidenceFile,
    Finding,
    FindingArtifact,
    ScoringThreshold,
    ScoringWeight,
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


@admin.register(EvidenceFile)
class EvidenceFileAdmin(admin.ModelAdmin):
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
    exclude = ["features"]
    readonly_fields = [
        f.name for f in EvidenceFile._meta.fields if f.name not in ("id", "features")
    ]
    inlines = [FindingInline]

    def has_add_permission(self, request):
        return False  # uploads go through evidence.services.evidence_add


@admin.register(CheckRun)
class CheckRunAdmin(admin.ModelAdmin):
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
    fields = ["name", "caption"]
    readonly_fields = fields


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ["code", "severity", "weight", "evidence", "claim", "created_at"]
    list_filter = ["severity", "code"]
    search_fields = ["code", "claim__id"]
    readonly_fields = [f.name for f in Finding._meta.fields if f.name != "id"] + ["display_message"]
    inlines = [ArtifactInline]


@admin.register(ScoringWeight)
class ScoringWeightAdmin(admin.ModelAdmin):
    list_display = ["code", "weight", "is_active", "description", "updated_at"]
    list_editable = ["weight", "is_active"]
    search_fields = ["code", "description"]


@admin.register(ScoringThreshold)
class ScoringThresholdAdmin(admin.ModelAdmin):
    list_display = ["name", "value", "description"]
    list_editable = ["value"]
