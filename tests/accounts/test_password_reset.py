"""Password reset by e-mail: the link works once and sets the password; the e-mail is in
the user's stored language; the answer never tells whether an account uses the address;
requests are limited per address and per client."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.services import profile_set_language
from tests.accounts.conftest import EN, ZH

LINK = re.compile(r"https?://[^/\s]+(/accounts/reset/[^/\s]+/[^/\s]+/)")


def _ask(client, email, **headers):
    return client.post(reverse("password_reset"), {"email": email}, **headers)


def _link(message) -> str:
    found = LINK.search(message.body)
    assert found, message.body
    return found.group(1)


def test_reset_mail_is_in_the_users_stored_language_not_the_pages(client, alice, with_email):
    # given: alice chose Chinese; she asks from a page in English
    with_email(alice, "alice@example.com")
    profile_set_language(user=alice, language="zh-hans")

    # when
    response = _ask(client, "alice@example.com", **EN)

    # then: the same "check your e-mail" page, and one e-mail, in Chinese
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert message.subject == "设置新的 Claimlens 密码"
    assert "alice，您好：" in message.body
    assert "有效期 24 小时" in message.body
    assert "Hello" not in message.body


def test_reset_mail_in_english_for_a_user_who_chose_english(client, bob, with_email):
    with_email(bob, "bob@example.com")
    profile_set_language(user=bob, language="en")

    _ask(client, "bob@example.com", **ZH)

    message = mail.outbox[0]
    assert message.subject == "Choose a new Claimlens password"
    assert message.body.startswith("Hello bob,")
    assert "The link works once, for 24 hours." in message.body


def test_reset_mail_without_a_stored_language_is_in_the_pages(client, alice, with_email):
    with_email(alice, "alice@example.com")

    _ask(client, "alice@example.com", **ZH)
    _ask(client, "alice@example.com", **EN)

    assert [m.subject for m in mail.outbox] == [
        "设置新的 Claimlens 密码",
        "Choose a new Claimlens password",
    ]


def test_the_link_sets_a_new_password_once(client, alice, with_email, django_user_model):
    with_email(alice, "alice@example.com")
    _ask(client, "alice@example.com", **EN)
    link = _link(mail.outbox[0])

    # when: alice opens the link (Django moves the token into her session) and sets a password
    form_page = client.get(link, follow=True, **EN)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(
        set_url,
        {"new_password1": "a-new-long-passphrase-42", "new_password2": "a-new-long-passphrase-42"},
        **EN,
    )

    # then: the password is the new one, and the link is spent
    assert done.status_code == 302
    assert done["Location"] == reverse("password_reset_complete")
    alice.refresh_from_db()
    assert alice.check_password("a-new-long-passphrase-42")
    again = client.get(link, follow=True, **EN)
    assert "This link does not work any more" in again.content.decode()


def test_the_new_password_is_validated(client, alice, with_email):
    with_email(alice, "alice@example.com")
    _ask(client, "alice@example.com", **ZH)
    form_page = client.get(_link(mail.outbox[0]), follow=True, **ZH)

    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "12345678", "new_password2": "12345678"},
        **ZH,
    )

    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password("pw-alice-123")


def test_the_answer_does_not_tell_whether_an_account_uses_the_address(client, alice, with_email):
    with_email(alice, "alice@example.com")

    used = _ask(client, "alice@example.com", **EN)
    unused = _ask(client, "nobody@example.com", **EN)

    assert (used.status_code, used["Location"]) == (unused.status_code, unused["Location"])
    assert len(mail.outbox) == 1  # only the used address got a link
    page = client.get(used["Location"], **EN).content.decode()
    assert "If a Claimlens account uses the address you entered" in page
    assert "alice" not in page and "nobody" not in page


def test_an_inactive_user_gets_no_link(client, alice, with_email):
    with_email(alice, "alice@example.com")
    alice.is_active = False
    alice.save()

    response = _ask(client, "alice@example.com", **EN)

    assert response.status_code == 302
    assert mail.outbox == []


def test_one_address_gets_at_most_the_limit_of_links(client, alice, bob, with_email, settings):
    settings.PASSWORD_RESET_ADDRESS_LIMIT = 2
    with_email(alice, "alice@example.com")
    with_email(bob, "bob@example.com")

    answers = [_ask(client, "Alice@Example.com", **EN) for _ in range(4)]

    # the same answer every time, but only two links (the address counted case-blind)
    assert {(a.status_code, a["Location"]) for a in answers} == {
        (302, reverse("password_reset_done"))
    }
    assert len(mail.outbox) == 2
    # another address is not affected
    _ask(client, "bob@example.com", **EN)
    assert mail.outbox[-1].to == ["bob@example.com"]


def test_an_unused_address_is_counted_as_a_used_one(client, db, settings):
    """Over the limit, an unused address is answered as a used one: no difference to see."""
    settings.PASSWORD_RESET_ADDRESS_LIMIT = 1

    first, second = (_ask(client, "nobody@example.com", **EN) for _ in range(2))

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]


def test_one_client_is_stopped_after_the_client_limit(client, alice, with_email, settings):
    settings.PASSWORD_RESET_CLIENT_LIMIT = 3
    with_email(alice, "alice@example.com")
    for number in range(3):
        assert _ask(client, f"someone{number}@example.com", **EN).status_code == 302

    # when: a fourth request from the same address, for a used address
    response = _ask(client, "alice@example.com", **EN)

    # then: refused with a message, nothing sent
    assert response.status_code == 429
    assert "Too many password resets were asked for from your network" in (
        response.content.decode()
    )
    assert mail.outbox == []
    # another client is not affected
    other = _ask(client, "alice@example.com", REMOTE_ADDR="203.0.113.7", **EN)
    assert other.status_code == 302
    assert len(mail.outbox) == 1


def test_the_client_limit_page_is_in_chinese(client, db, settings):
    settings.PASSWORD_RESET_CLIENT_LIMIT = 0

    response = _ask(client, "someone@example.com", **ZH)

    assert response.status_code == 429
    assert "您的网络请求重置密码的次数过多。请在 60 分钟后再试。" in response.content.decode()


@pytest.mark.parametrize(
    ("headers", "texts"),
    [
        (
            EN,
            {
                "password_reset": "Forgot your password?",
                "password_reset_done": "Check your e-mail",
                "password_reset_complete": "Your password is changed",
                "bad_link": "This link does not work any more",
            },
        ),
        (
            ZH,
            {
                "password_reset": "忘记密码？",
                "password_reset_done": "请查收邮件",
                "password_reset_complete": "您的密码已修改",
                "bad_link": "此链接已失效",
            },
        ),
    ],
)
def test_reset_pages_are_in_both_languages_in_the_sites_design(client, db, headers, texts):
    from tests.web.test_security_headers import assert_nothing_inline, assert_strict

    urls = {
        "password_reset": reverse("password_reset"),
        "password_reset_done": reverse("password_reset_done"),
        "password_reset_complete": reverse("password_reset_complete"),
        "bad_link": reverse("password_reset_confirm", args=["MQ", "not-a-token"]),
    }
    for name, url in urls.items():
        response = client.get(url, **headers)
        html = response.content.decode()
        assert response.status_code == 200, name
        assert texts[name] in html, name
        assert 'class="topbar"' in html and "css/claimlens.css" in html, name
        assert_strict(response)
        assert_nothing_inline(response)


def test_login_page_links_to_the_reset(client, db):
    html = client.get(reverse("login"), **EN).content.decode()

    assert f'href="{reverse("password_reset")}"' in html
