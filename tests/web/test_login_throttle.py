"""Login throttling (django-axes): wrong passwords lock one user name from one address for
a cool-off; the right password is then refused with a message saying so, on the web
login and on the admin login alike."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
OTHER_ADDRESS = {"REMOTE_ADDR": "203.0.113.9"}


def _failure_limit() -> int:
    return getattr(settings, "AXES_FAILURE_LIMIT", 5)


def _post_login(client, username, password, *, url=None, **extra):
    return client.post(
        url or reverse("login"), {"username": username, "password": password}, **extra
    )


def _fail(client, username, times, **extra):
    for _ in range(times):
        response = _post_login(client, username, "not-the-password", **extra)
        assert "_auth_user_id" not in client.session
    return response


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def admin_user(django_user_model, db):
    return django_user_model.objects.create_superuser("root", password="pw-root-123")


def test_right_password_after_too_many_wrong_ones_is_refused_with_the_lockout_message(
    client, alice
):
    # given: as many wrong passwords as the limit allows
    _fail(client, "alice", _failure_limit(), **EN)

    # when: the right one comes next
    response = _post_login(client, "alice", "pw-alice-123", **EN)

    # then: no session, and the login page says the account is locked and for how long
    assert not _logged_in(client)
    assert response.status_code == 429
    html = response.content.decode()
    assert "This account is locked for 15 minutes" in html
    assert 'id="id_username"' in html  # still the login page, not a bare error


def test_the_lockout_message_is_in_chinese_by_default(client, alice):
    _fail(client, "alice", _failure_limit(), **ZH)

    response = _post_login(client, "alice", "pw-alice-123", **ZH)

    assert response.status_code == 429
    assert "该账户已锁定 15 分钟" in response.content.decode()


def test_the_limit_is_not_reached_one_attempt_early(client, alice):
    _fail(client, "alice", _failure_limit() - 1)

    response = _post_login(client, "alice", "pw-alice-123")

    assert response.status_code == 302
    assert _logged_in(client)


def test_lockout_is_per_user_name_and_address(client, alice, bob):
    # given: alice's name is locked from one address
    _fail(client, "alice", _failure_limit())

    # then: bob logs in from that same address, and alice from another one
    assert _post_login(client, "bob", "pw-bob-123").status_code == 302
    client.logout()
    assert _post_login(client, "alice", "pw-alice-123", **OTHER_ADDRESS).status_code == 302


def test_login_works_again_after_the_cool_off(client, alice):
    from axes.models import AccessAttempt

    _fail(client, "alice", _failure_limit())
    assert _post_login(client, "alice", "pw-alice-123").status_code == 429

    # when: the cool-off has passed since the last failure (its time moved back)
    last = AccessAttempt.objects.get(username="alice")
    last.attempt_time -= settings.AXES_COOLOFF_TIME + dt.timedelta(seconds=1)
    last.save(update_fields=["attempt_time"])

    # then: the right password logs in
    response = _post_login(client, "alice", "pw-alice-123")
    assert response.status_code == 302
    assert _logged_in(client)


def test_cool_off_is_counted_from_the_last_failure(client, alice):
    from axes.models import AccessAttempt

    _fail(client, "alice", _failure_limit())
    last = AccessAttempt.objects.get(username="alice")
    last.attempt_time -= settings.AXES_COOLOFF_TIME - dt.timedelta(minutes=1)
    last.save(update_fields=["attempt_time"])

    assert _post_login(client, "alice", "pw-alice-123").status_code == 429
    assert not _logged_in(client)


def test_an_administrator_unlocks_with_axes_reset(client, alice):
    from axes.utils import reset

    _fail(client, "alice", _failure_limit())

    reset(username="alice")

    assert _post_login(client, "alice", "pw-alice-123").status_code == 302


def test_successful_login_resets_the_failure_count(client, alice):
    # given: failures just short of the limit, then a successful login
    _fail(client, "alice", _failure_limit() - 1)
    assert _post_login(client, "alice", "pw-alice-123").status_code == 302
    client.logout()

    # when: more failures just short of the limit again
    _fail(client, "alice", _failure_limit() - 1)

    # then: the right password still logs in
    assert _post_login(client, "alice", "pw-alice-123").status_code == 302


def test_admin_login_is_throttled_too(client, admin_user):
    url = reverse("admin:login")
    for _ in range(_failure_limit()):
        _post_login(client, "root", "not-the-password", url=url, **EN)

    response = _post_login(client, "root", "pw-root-123", url=url, **EN)

    assert not _logged_in(client)
    assert response.status_code == 429
    html = response.content.decode()
    assert "This account is locked for 15 minutes" in html
    assert 'name="password"' in html  # the admin's own login page


def test_administrators_see_the_lockouts_in_the_admin(client, alice, admin_user):
    _fail(client, "alice", _failure_limit())
    client.force_login(admin_user)

    response = client.get(reverse("admin:axes_accessattempt_changelist"), **EN)

    assert response.status_code == 200
    assert "alice" in response.content.decode()


def test_the_stored_attempt_keeps_no_password(client, alice):
    from axes.models import AccessAttempt

    _fail(client, "alice", 1)

    assert "not-the-password" not in AccessAttempt.objects.get(username="alice").post_data


def test_client_address_is_taken_from_the_trusted_proxy_header(settings, rf):
    from config.login_throttle import client_ip

    request = rf.post(
        "/accounts/login/",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.5",
    )
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.2"  # no proxy trusted: the header is ignored
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.5"  # what the one trusted proxy saw
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "198.51.100.7"
    settings.TRUSTED_PROXY_COUNT = 3  # fewer entries than proxies: every one is a proxy's
    assert client_ip(request) == "198.51.100.7"
    spoofed = rf.post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.5")
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(spoofed) == "203.0.113.5"  # what the client wrote itself is skipped
