"""The audit chain: every change is recorded, and any tampering is detected."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from refunds.audit import verify_chain
from refunds.models import AuditEvent


@pytest.fixture
def history(make_claim, shop_a):
    for _ in range(3):
        make_claim(shop_a)  # submitted, checks started, awaiting merchant: 3 events each
    assert AuditEvent.objects.count() == 9


def test_intact_chain_verifies(history, capsys):
    assert verify_chain() == (9, None)
    call_command("verify_audit")
    assert "9 events verified" in capsys.readouterr().out


@pytest.mark.parametrize("column", ["reason", "actor_label", "to_status", "created_at", "data"])
def test_editing_any_event_is_detected(history, column):
    victim = AuditEvent.objects.get(seq=5)
    values = {
        "reason": "'rewritten'",
        "actor_label": "'user:mallory'",
        "to_status": "'decided'",
        "created_at": "'2020-01-01 00:00:00'",
        "data": '\'{"amount": "1"}\'',
    }
    with connection.cursor() as cursor:  # bypass the model, as an attacker with SQL would
        cursor.execute(
            f"UPDATE refunds_auditevent SET {column} = {values[column]} WHERE id = %s",  # noqa: S608
            [victim.pk],
        )
    checked, broken = verify_chain()
    assert broken is not None and broken.seq == 5 and checked == 4
    with pytest.raises(CommandError, match="broken at event #5"):
        call_command("verify_audit")


def test_deleting_an_event_is_detected(history):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM refunds_auditevent WHERE seq = 4")
    _checked, broken = verify_chain()
    assert broken.seq == 4 and "gap" in broken.problem


def test_events_cannot_be_changed_or_deleted_through_the_model(history):
    event = AuditEvent.objects.first()
    event.reason = "changed"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
