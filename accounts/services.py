"""Writes about accounts: the language a user chose."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from accounts.models import Profile


class UnknownLanguage(ValueError):
    """A language Claimlens has no pages in."""


def profile_set_language(*, user, language: str) -> Profile:
    """Store ``language`` (one of ``settings.LANGUAGES``) as the user's: their pages after
    each login and the e-mails sent to them are in it."""
    if language not in dict(settings.LANGUAGES):
        raise UnknownLanguage(language)
    with transaction.atomic():
        profile, _created = Profile.objects.update_or_create(
            user=user, defaults={"language": language}
        )
    return profile
