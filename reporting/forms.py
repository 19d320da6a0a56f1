"""The statistics page's filters: a date range (or a preset of the last 7/30/90 days)
and one shop of the reviewer's platform."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
# A longer range is refused: its chart would be unreadable (the query stays cheap).
MAX_DAYS = 3 * 366


class StatisticsFilterForm(forms.Form):
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    days = forms.TypedChoiceField(
        label=_("Period"),
        choices=[(n, n) for n in PRESETS],
        coerce=int,
        required=False,
        empty_value=None,
    )
    merchant = forms.ModelChoiceField(
        label=_("Shop"), queryset=None, required=False, empty_label=_("All shops")
    )

    def __init__(self, *args, merchants, **kwargs):
        """``merchants``: the shops the reviewer may filter on (their platform's)."""
        super().__init__(*args, **kwargs)
        self.fields["merchant"].queryset = merchants

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError(_("The first day comes after the last."))
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(_("Choose at most %(days)s days.") % {"days": MAX_DAYS})
        return data

    def period(self) -> tuple[dt.date, dt.date]:
        """The chosen days (inclusive): both dates when given, from the first day to today,
        else a preset ending on the last day or today (the last 30 days when nothing
        valid was chosen)."""
        today = timezone.localdate()
        data = self._valid_fields()
        if self.non_field_errors():
            data = {}
        if data.get("start") and data.get("end"):
            return data["start"], data["end"]
        if data.get("start"):
            return data["start"], max(data["start"], today)
        days = data.get("days") or DEFAULT_DAYS
        end = data.get("end") or today
        return end - dt.timedelta(days=days - 1), end

    def shop(self):
        """The chosen shop, or None (all shops; also when the choice was not valid)."""
        return self._valid_fields().get("merchant")

    def _valid_fields(self) -> dict:
        """The fields that validated (one bad field does not discard the others)."""
        self.is_valid()
        return getattr(self, "cleaned_data", {})
