"""The rollups read-only in the admin: rows the refresh writes, never edited by hand."""

from django.contrib import admin

from reporting.models import ClaimDay, DecisionDay, ReviewerDay, RollupState, SignalDay


class ReadOnlyAdmin(admin.ModelAdmin):
    list_filter = ("tenant",)
    date_hierarchy = "day"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ClaimDay)
class ClaimDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "tenant", "merchant", "claims", "with_signals", "merchant_missed")


@admin.register(SignalDay)
class SignalDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "tenant", "merchant", "kind", "code", "claims")


@admin.register(DecisionDay)
class DecisionDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "tenant", "merchant", "queue", "outcome", "decisions", "within_sla")


@admin.register(ReviewerDay)
class ReviewerDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "tenant", "reviewer", "decisions", "within_sla", "overturned")


@admin.register(RollupState)
class RollupStateAdmin(ReadOnlyAdmin):
    list_filter = ()
    date_hierarchy = None
    list_display = ("key", "watermark", "last_refresh_at", "last_rebuild_at", "last_days")
