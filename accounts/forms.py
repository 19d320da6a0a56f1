"""The password-reset form, sending each e-mail in its reader's language."""

from __future__ import annotations

from django.contrib.auth.forms import PasswordResetForm
from django.utils import translation

from accounts.selectors import stored_language


class AccountPasswordResetForm(PasswordResetForm):
    """Django's form (it sends only to active users with a usable password, and the same
    page follows whether or not an account uses the address); each e-mail is written in
    the language the user chose, else in the language of the page the form was sent
    from."""

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        language = stored_language(user=context["user"]) or translation.get_language()
        with translation.override(language):
            super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)
