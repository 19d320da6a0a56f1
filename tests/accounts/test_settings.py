"""E-mail settings from the environment (one URL, or its parts), and the demo switch that
production always turns off. Each case is a fresh interpreter reading config/settings.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = (
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "DEFAULT_FROM_EMAIL",
    "CLAIMLENS_DEMO",
)
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def settings_with(var_dir, **environment) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EMAIL_", "CLAIMLENS_", "DEFAULT_FROM"))
    }
    env.update(
        environment, DJANGO_SETTINGS_MODULE="config.settings", CLAIMLENS_VAR_DIR=str(var_dir)
    )
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        f"print(json.dumps({{n: getattr(settings, n) for n in {NAMES!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_outside_production_mail_goes_to_the_console_and_the_demo_can_be_on(tmp_path):
    found = settings_with(tmp_path, CLAIMLENS_DEMO="1")

    assert found["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert found["CLAIMLENS_DEMO"] is True


def test_production_sends_by_smtp_from_the_url_and_never_shows_the_demo(tmp_path):
    found = settings_with(
        tmp_path,
        CLAIMLENS_PRODUCTION="1",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="claims.example.com",
        EMAIL_URL="smtp+tls://mailer%40example.com:p%2Fss@smtp.example.com:587",
        CLAIMLENS_DEMO="1",
    )

    assert found["EMAIL_BACKEND"] == SMTP
    assert (found["EMAIL_HOST"], found["EMAIL_PORT"]) == ("smtp.example.com", 587)
    assert (found["EMAIL_HOST_USER"], found["EMAIL_HOST_PASSWORD"]) == (
        "mailer@example.com",
        "p/ss",
    )
    assert found["EMAIL_USE_TLS"] is True and found["EMAIL_USE_SSL"] is False
    assert found["DEFAULT_FROM_EMAIL"] == "Claimlens <no-reply@claims.example.com>"
    assert found["CLAIMLENS_DEMO"] is False


def test_the_parts_work_without_a_url_and_win_over_it(tmp_path):
    found = settings_with(
        tmp_path,
        EMAIL_HOST="mail.internal",
        EMAIL_PORT="2525",
        EMAIL_HOST_USER="claimlens",
        EMAIL_HOST_PASSWORD="secret",
        EMAIL_USE_TLS="1",
        DEFAULT_FROM_EMAIL="Claims <claims@example.com>",
    )

    assert found["EMAIL_BACKEND"] == SMTP
    assert (found["EMAIL_HOST"], found["EMAIL_PORT"]) == ("mail.internal", 2525)
    assert (found["EMAIL_HOST_USER"], found["EMAIL_HOST_PASSWORD"]) == ("claimlens", "secret")
    assert found["EMAIL_USE_TLS"] is True
    assert found["DEFAULT_FROM_EMAIL"] == "Claims <claims@example.com>"
