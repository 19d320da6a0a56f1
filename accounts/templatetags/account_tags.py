from django import template
from django.conf import settings

from accounts.demo import DEMO_LOGINS, demo_password, describe

register = template.Library()


@register.inclusion_tag("accounts/partials/demo_logins.html")
def demo_logins():
    """The demo's logins, only while the demo runs (``CLAIMLENS_DEMO``, set by
    scripts/demo.sh; always off in production)."""
    if not settings.CLAIMLENS_DEMO:
        return {"logins": ()}
    return {
        "logins": [(login.username, describe(login)) for login in DEMO_LOGINS],
        "password": demo_password(),
    }
