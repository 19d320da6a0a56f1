"""How often a password reset may be asked for, counted in the cache (Redis in production,
shared by every web process).

Two counters over a fixed window of ``PASSWORD_RESET_WINDOW_MINUTES``:

* per e-mail address (``PASSWORD_RESET_ADDRESS_LIMIT``): nobody can fill a person's
  mailbox with reset links. Over it, the request is answered exactly as any other (the
  "check your e-mail" page) but nothing is sent, so the answer still does not tell
  whether an account uses the address. Every address is counted, used or not;
* per client address (``PASSWORD_RESET_CLIENT_LIMIT``, the address as
  ``config.login_throttle.client_ip`` sees it behind the trusted proxies): one machine
  cannot probe or spam many addresses. Over it, the form says to wait (429): that is
  about the asker, not about any account.

Addresses are kept as SHA-256 digests, never in clear.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

from config.login_throttle import client_ip

PREFIX = "password-reset"


def _window_seconds() -> int:
    return settings.PASSWORD_RESET_WINDOW_MINUTES * 60


def _count(key: str) -> int:
    """One more request under ``key``; how many there have been in this window."""
    if cache.add(key, 1, timeout=_window_seconds()):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, timeout=_window_seconds())
        return 1


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def client_allowed(request) -> bool:
    """Count a reset request from this client; False once it is over the limit."""
    key = f"{PREFIX}:client:{_digest(client_ip(request))}"
    return _count(key) <= settings.PASSWORD_RESET_CLIENT_LIMIT


def address_allowed(email: str) -> bool:
    """Count a reset request for this e-mail address; False once it is over the limit."""
    key = f"{PREFIX}:address:{_digest(email.strip().casefold())}"
    return _count(key) <= settings.PASSWORD_RESET_ADDRESS_LIMIT


def window_minutes() -> int:
    return settings.PASSWORD_RESET_WINDOW_MINUTES
