"""Forms of the browser pages: they parse input; the rules live in refunds.services."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from refunds.models import ClaimStatus, Outcome
from refunds.services import MerchantResponse

MAX_COUNTER_EVIDENCE_FILES = 6


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several files in one input; each is checked by evidence.services.evidence_add."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/*", "multiple": True})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            files = [single(item, initial) for item in data if item]
        else:
            files = [single(data, initial)] if data else []
        if len(files) > MAX_COUNTER_EVIDENCE_FILES:
            raise forms.ValidationError(
                _("Send at most %(count)s files at a time.") % {"count": MAX_COUNTER_EVIDENCE_FILES}
            )
        return files


class InboxFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("All claims")), *ClaimStatus.choices],
        required=False,
    )


class MerchantResponseForm(forms.Form):
    RESPONSE_CHOICES = [
        (MerchantResponse.CONTEST, _("Contest: the claim is not justified")),
        (MerchantResponse.OFFER_RETURN, _("Offer a return: refund once the goods come back")),
        (MerchantResponse.OFFER_PARTIAL, _("Offer a partial refund")),
        (MerchantResponse.ACCEPT, _("Accept: refund the buyer in full now")),
    ]

    response = forms.ChoiceField(
        label=_("Your answer"), choices=RESPONSE_CHOICES, widget=forms.RadioSelect
    )
    statement = forms.CharField(
        label=_("Your statement to the reviewer"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": _(
                    "For example: this is our listing photo with cracks painted on; "
                    "the item was packed intact (see the packing photo)."
                ),
            }
        ),
    )
    offer_amount = forms.DecimalField(
        label=_("Partial refund you offer (¥)"),
        required=False,
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
    )
    files = MultipleImageField(
        label=_("Counter-evidence photos (packing photos, listing photos, chat screenshots)"),
        required=False,
    )


class CounterEvidenceForm(forms.Form):
    files = MultipleImageField(label=_("Add counter-evidence photos"), required=True)


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Outcome.choices)
    refund_amount = forms.DecimalField(
        label=_("Refund for a partial refund (¥)"),
        required=False,
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
    )
    rationale = forms.CharField(
        label=_("Rationale (shown to both parties)"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    confirmed_forgery = forms.BooleanField(
        label=_("The buyer's evidence is forged (counts towards the buyer's fraud tier)"),
        required=False,
    )


class RequestEvidenceForm(forms.Form):
    evidence = forms.TypedChoiceField(
        label=_("Which photo is not enough?"), required=False, coerce=int, empty_value=None
    )
    message = forms.CharField(
        label=_("What should the buyer send?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    challenge = forms.BooleanField(
        label=_(
            "Ask for a challenge photo: a one-time code the buyer writes on paper and "
            "photographs beside the item"
        ),
        required=False,
    )
    hours = forms.IntegerField(
        label=_("The buyer's window (hours)"),
        min_value=1,
        max_value=336,
        initial=72,
        required=False,
    )

    def __init__(self, *args, files_to_name=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["evidence"].choices = [
            ("", _("— the claim in general —")),
            *[
                (f.pk, _("Photo %(n)s (%(name)s)") % {"n": i, "name": f.original_name or f.pk})
                for i, f in enumerate(files_to_name, 1)
            ],
        ]


class StatisticsPeriodForm(forms.Form):
    """The reviewers' statistics period, in days; anything else means the default."""

    DEFAULT_DAYS = 30

    days = forms.TypedChoiceField(
        label=_("Period"),
        choices=[(7, _("Last 7 days")), (30, _("Last 30 days")), (90, _("Last 90 days"))],
        coerce=int,
        required=False,
        empty_value=DEFAULT_DAYS,
    )

    def period_days(self) -> int:
        return self.cleaned_data["days"] if self.is_valid() else self.DEFAULT_DAYS
