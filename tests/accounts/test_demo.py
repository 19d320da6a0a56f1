"""The demo: its logins are listed on the login page (only while the demo runs) and in the
README, and every demo claim's history reads true."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.demo import DEMO_LOGINS, demo_password
from tests.accounts.conftest import EN, ZH

ROOT = Path(__file__).resolve().parents[2]


def test_login_page_shows_no_demo_logins_outside_the_demo(client, db, settings):
    settings.CLAIMLENS_DEMO = False

    html = client.get(reverse("login"), **EN).content.decode()

    assert "data-demo-login" not in html
    assert demo_password() not in html


@pytest.mark.parametrize(
    ("headers", "heading", "senior"),
    [(EN, "Demo logins", "senior reviewer (decides appeals)"), (ZH, "演示账户", "高级审核员")],
)
def test_login_page_lists_every_demo_login_while_the_demo_runs(
    client, db, settings, headers, heading, senior
):
    settings.CLAIMLENS_DEMO = True

    html = client.get(reverse("login"), **headers).content.decode()

    assert heading in html
    listed = re.findall(r"<code data-demo-login>([^<]+)</code>", html)
    assert listed == [login.username for login in DEMO_LOGINS]
    assert f"<code>{demo_password()}</code>" in html
    assert senior in html


def test_the_lockout_page_keeps_the_demo_logins(client, alice, settings):
    settings.CLAIMLENS_DEMO = True
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "alice", "password": "x"})

    response = client.post(reverse("login"), {"username": "alice", "password": "x"}, **EN)

    assert response.status_code == 429
    assert "data-demo-login" in response.content.decode()


def test_readme_lists_every_demo_login():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `([a-z0-9]+)` \|", readme, flags=re.MULTILINE)

    assert table == [login.username for login in DEMO_LOGINS]


def test_demo_script_turns_the_banner_on_and_debug_off():
    script = (ROOT / "scripts" / "demo.sh").read_text(encoding="utf-8")

    assert "export CLAIMLENS_DEMO=1" in script
    assert 'export DEBUG="${DEBUG:-0}"' in script


@pytest.fixture
def demo_world(media_in_tmp):
    """The loader commits as ``make demo`` does (claims are evaluated after each commit),
    so a transactional database, with the rows the migrations seed put back after the
    flushes of earlier transactional tests."""
    from tests.conftest import reseed_reference_data

    reseed_reference_data()


def _load_demo():
    with open(os.devnull, "w") as quiet:
        call_command("load_demo", stdout=quiet)


@pytest.mark.django_db(transaction=True)
def test_the_demo_data_has_the_listed_logins_and_histories_that_read_true(
    demo_world, django_user_model
):
    from merchants.models import Membership
    from refunds.models import AuditEvent, RefundClaim

    # when: the demo is loaded (one run, for all of this test: it takes a while)
    _load_demo()

    # then: exactly the listed logins, each with its password, address and role
    names = set(django_user_model.objects.values_list("username", flat=True))
    assert names == {login.username for login in DEMO_LOGINS}
    for login in DEMO_LOGINS:
        user = django_user_model.objects.get(username=login.username)
        assert user.check_password(demo_password())
        assert user.email == login.email  # a password reset reaches the demo's console
        assert (user.is_staff, user.is_superuser) == (login.staff, login.superuser)
        if login.shop:
            membership = Membership.objects.get(user=user)
            assert (membership.merchant.name, membership.role) == (login.shop, login.role)
        if login.group:
            assert user.groups.filter(name=login.group).exists()

    # and: every claim's history reads true
    claims = list(RefundClaim.objects.prefetch_related("evidence_files"))
    assert len(claims) >= 30
    for claim in claims:
        events = list(AuditEvent.objects.filter(claim=claim).order_by("pk"))
        reasons = [event.reason for event in events]
        photos = [f for f in claim.evidence_files.all() if f.submitted_by == "buyer"]
        assert photos, claim.pk
        # the photos were attached before the claim was evaluated: never "nothing to check"
        assert "no evidence files to check" not in reasons, claim.pk
        # nobody says the appeal window is over before it is
        for event in events:
            if event.action == "closed" and "appeal window" in event.reason:
                assert event.created_at > claim.appeal_deadline, claim.pk
        # the photos' uploads are the platform's, not "unattributed"
        uploads = AuditEvent.objects.filter(
            action="evidence_uploaded", evidence_id__in=[photo.pk for photo in photos]
        )
        assert {e.actor_label for e in uploads} == {"platform:demo"}, claim.pk
        # in the demo a denial is a confirmed forgery and a confirmed forgery a denial
        if claim.outcome:
            assert claim.confirmed_forgery == (claim.outcome == "refund_denied"), claim.pk
    # an agent answers claims as an owner does
    assert AuditEvent.objects.filter(actor_label="user:agent1", action="merchant_contest").exists()

    # when: it is loaded again after somebody changed a password
    before = RefundClaim.objects.count()
    agent = django_user_model.objects.get(username="agent1")
    agent.set_password("changed-by-someone")
    agent.save()
    _load_demo()

    # then: no new data, the demo password is back
    assert RefundClaim.objects.count() == before
    agent.refresh_from_db()
    assert agent.check_password(demo_password())
