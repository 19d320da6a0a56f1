"""The demo's logins (``manage.py load_demo`` creates them; the login page lists them
when ``CLAIMLENS_DEMO`` is on): one list, so the banner cannot drift from the data."""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

DEFAULT_PASSWORD = "claimlens-demo"  # noqa: S105 (the demo's, printed on its login page)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    description: Promise | str
    shop: str = ""  # the shop's name, for a merchant login
    role: str = ""  # their merchants.Membership role in it
    staff: bool = False
    superuser: bool = False
    group: str = ""  # a reviewer group (seeded by refunds/0002)

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"


AOKI_HOME = "青木家居 Aoki Home"
DIGIPORT = "数码港 DigiPort"
TEA_GARDEN = "茶园小铺 Tea Garden"

DEMO_LOGINS = (
    DemoLogin("merchant1", _("owner of %(shop)s"), shop=AOKI_HOME, role="owner"),
    DemoLogin(
        "agent1",
        _("agent of %(shop)s: answers claims, cannot manage the shop"),
        shop=AOKI_HOME,
        role="agent",
    ),
    DemoLogin("merchant2", _("owner of %(shop)s"), shop=DIGIPORT, role="owner"),
    DemoLogin("chayuan", _("owner of %(shop)s"), shop=TEA_GARDEN, role="owner"),
    DemoLogin("reviewer", _("platform reviewer"), staff=True, group="reviewers"),
    DemoLogin(
        "senior", _("senior reviewer (decides appeals)"), staff=True, group="senior reviewers"
    ),
    DemoLogin("admin", _("platform administrator (/admin/)"), staff=True, superuser=True),
)


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD", DEFAULT_PASSWORD)


def describe(login: DemoLogin) -> str:
    return str(login.description) % {"shop": login.shop} if login.shop else str(login.description)
