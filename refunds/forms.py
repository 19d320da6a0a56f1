"""Forms of the browser pages: they parse input; the rules live in refunds.services."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from refunds import policy
from refunds.models import (
    ClaimReason,
    ClaimStatus,
    Outcome,
    PhotoVerdict,
    RationaleTemplate,
    ReviewQueue,
)
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
    """The inbox's search, filters and sort (GET); the shop and the cursor are read apart."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.SearchInput(attrs={"placeholder": _("Claim or order number, buyer, product")}),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("All claims")), *ClaimStatus.choices],
        required=False,
    )
    risk = forms.ChoiceField(
        label=_("Risk"),
        choices=[
            ("", _("Any risk")),
            ("high", _("High risk")),
            ("medium", _("Suspicious")),
            ("low", _("Low risk")),
            ("pending", _("Not scored yet")),
        ],
        required=False,
    )
    reason = forms.ChoiceField(
        label=_("Reason"), choices=[("", _("Any reason")), *ClaimReason.choices], required=False
    )
    due = forms.BooleanField(label=_("Deadline within 24 h"), required=False)
    signals = forms.BooleanField(label=_("Has forgery signals"), required=False)
    sort = forms.ChoiceField(
        label=_("Sort by"),
        choices=[
            ("deadline", _("Deadline (waiting for you first)")),
            ("amount", _("Amount")),
            ("risk", _("Risk")),
            ("date", _("Date")),
        ],
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
    """Outcome (no default: the reviewer must choose), the amount of a partial refund, a
    rationale template and/or the reviewer's words, the findings relied on, and per
    buyer's file the verdict the reviewer confirms."""

    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=Outcome.choices, widget=forms.RadioSelect
    )
    refund_amount = forms.DecimalField(
        label=_("Refund for a partial refund (¥)"),
        required=False,
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
    )
    template = forms.ModelChoiceField(
        label=_("Rationale template"),
        queryset=RationaleTemplate.objects.none(),
        required=False,
        empty_label=_("— none —"),
    )
    rationale = forms.CharField(
        label=_("Rationale (shown to both parties)"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    findings_relied_on = forms.TypedMultipleChoiceField(
        label=_("Findings the decision relies on"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )
    confirmed_forgery = forms.BooleanField(
        label=_("The buyer's evidence is forged (counts towards the buyer's fraud tier)"),
        required=False,
    )

    def __init__(self, *args, findings=(), buyer_files=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = RationaleTemplate.objects.filter(is_active=True)
        self.fields["findings_relied_on"].choices = [
            (f.pk, f"{f.code} ({f.weight})") for f in findings
        ]
        self.verdict_fields = []
        for number, file in enumerate(buyer_files, 1):
            name = f"verdict_{file.pk}"
            self.fields[name] = forms.ChoiceField(
                label=_("Photo %(n)s: your verdict") % {"n": number},
                choices=[("", _("— not assessed —")), *PhotoVerdict.choices],
                required=False,
            )
            self.verdict_fields.append(name)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("template") and len((cleaned.get("rationale") or "").strip()) < 10:
            self.add_error(
                "rationale", _("Choose a template or write a rationale of at least 10 characters.")
            )
        return cleaned

    def photo_verdicts(self) -> dict[int, str]:
        return {
            int(name.removeprefix("verdict_")): self.cleaned_data[name]
            for name in self.verdict_fields
            if self.cleaned_data.get(name)
        }


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


class BulkFilterForm(forms.Form):
    queue = forms.ModelChoiceField(
        label=_("Queue"), queryset=ReviewQueue.objects.all(), required=False
    )
    buyer = forms.CharField(label=_("Buyer (platform id)"), max_length=64, required=False)
    finding = forms.CharField(label=_("Has the finding"), max_length=64, required=False)

    def __init__(self, *args, reviewer, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the queues of the platform the reviewer works for are a choice.
        self.fields["queue"].queryset = policy.scope_to_reviewer_platform(
            ReviewQueue.objects.all(), reviewer
        )


class BulkDecisionForm(forms.Form):
    claims = forms.TypedMultipleChoiceField(
        label=_("Claims"), coerce=int, widget=forms.CheckboxSelectMultiple
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[c for c in Outcome.choices if c[0] != Outcome.PARTIAL_REFUND],
        widget=forms.RadioSelect,
    )
    rationale = forms.CharField(
        label=_("Rationale (shown to both parties)"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    confirmed_forgery = forms.BooleanField(
        label=_("The buyer's evidence is forged (counts towards the buyer's fraud tier)"),
        required=False,
    )

    def __init__(self, *args, claim_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["claims"].choices = [(pk, f"#{pk}") for pk in claim_ids]
