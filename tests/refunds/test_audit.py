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


# --- checkpoints: the head kept outside the database ------------------------------------


def _rewrite_from(seq: int, reason: str) -> None:
    """What an attacker with SQL access would do to hide an edit: change an event and
    recompute every hash after it, so the chain itself verifies again."""
    from refunds.audit import compute_hash

    prev = AuditEvent.objects.get(seq=seq - 1).hash
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        if event.seq == seq:
            event.reason = reason
        event.prev_hash = prev
        event.hash = compute_hash(event)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE refunds_auditevent SET reason = %s, prev_hash = %s, hash = %s "
                "WHERE id = %s",
                [event.reason, event.prev_hash, event.hash, event.pk],
            )
        prev = event.hash


def test_a_checkpoint_stores_the_chain_head_once(history, media_in_tmp, make_claim, shop_a):
    from refunds.audit import checkpoint_latest, checkpoint_write

    first = checkpoint_write()
    again = checkpoint_write()
    make_claim(shop_a)
    later = checkpoint_write()

    head = AuditEvent.objects.get(seq=9)
    assert (first.seq, first.hash) == (9, head.hash)
    assert again is None  # nothing new to record
    assert later.seq == 12 and checkpoint_latest().seq == 12
    assert len(list((media_in_tmp / "audit-checkpoints").iterdir())) == 2


def test_cutting_off_the_newest_events_is_detected_by_the_checkpoint(history, media_in_tmp):
    from refunds.audit import checkpoint_write, verify_checkpoint

    checkpoint_write()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM refunds_auditevent WHERE seq >= 8")

    assert verify_chain() == (7, None)  # the chain alone cannot tell
    _checkpoint, problem = verify_checkpoint()
    assert "#9" in problem and "ends at #7" in problem
    with pytest.raises(CommandError, match="newest events were removed"):
        call_command("verify_audit")


def test_a_chain_rewritten_with_recomputed_hashes_is_detected(history, media_in_tmp):
    from refunds.audit import checkpoint_write, verify_checkpoint

    checkpoint_write()
    _rewrite_from(5, "rewritten")

    assert verify_chain() == (9, None)
    _checkpoint, problem = verify_checkpoint()
    assert "rewritten" in problem
    with pytest.raises(CommandError, match="does not match its checkpoint"):
        call_command("verify_audit")


def test_verify_audit_names_the_checkpoint_it_matched(history, media_in_tmp, capsys):
    from refunds.tasks import audit_checkpoint_task

    call_command("verify_audit")
    before = capsys.readouterr().out
    assert audit_checkpoint_task() == 9
    call_command("verify_audit")
    after = capsys.readouterr().out

    assert "no checkpoint stored yet" in before
    assert "matches checkpoint audit-checkpoints/000000000009-" in after
