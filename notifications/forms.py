from django import forms

from notifications.models import NotificationPreference


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = NotificationPreference
        fields = [
            "email_new_claim",
            "email_deadline_soon",
            "email_evidence_requested",
            "email_decision",
            "email_appeal_decided",
            "digest",
        ]
