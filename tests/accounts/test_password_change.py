"""Changing one's password while signed in: the old one is asked, the new one validated,
the session kept."""

from __future__ import annotations

from django.urls import reverse

from tests.accounts.conftest import EN, ZH


def test_password_change_with_the_old_password(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("password_change"),
        {
            "old_password": "pw-alice-123",
            "new_password1": "another-long-passphrase-7",
            "new_password2": "another-long-passphrase-7",
        },
        **EN,
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    alice.refresh_from_db()
    assert alice.check_password("another-long-passphrase-7")
    # still signed in
    done = client.get(response["Location"], **EN)
    assert done.status_code == 200
    assert "Your password is changed" in done.content.decode()


def test_password_change_refuses_a_wrong_old_password(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("password_change"),
        {
            "old_password": "not-it",
            "new_password1": "another-long-passphrase-7",
            "new_password2": "another-long-passphrase-7",
        },
        **ZH,
    )

    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password("pw-alice-123")


def test_password_change_page_in_both_languages(client, alice):
    client.force_login(alice)

    english = client.get(reverse("password_change"), **EN).content.decode()
    chinese = client.get(reverse("password_change"), **ZH).content.decode()

    assert "Change your password" in english and 'name="old_password"' in english
    assert "修改密码" in chinese and "保存新密码" in chinese


def test_password_change_needs_a_login(client, db):
    response = client.get(reverse("password_change"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
