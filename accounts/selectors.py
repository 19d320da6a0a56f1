"""Reads about accounts."""

from __future__ import annotations

from accounts.models import Profile


def stored_language(*, user) -> str:
    """The language the user chose (a code of ``settings.LANGUAGES``), or "" if none."""
    if user is None or not user.is_authenticated:
        return ""
    return Profile.objects.filter(user=user).values_list("language", flat=True).first() or ""
