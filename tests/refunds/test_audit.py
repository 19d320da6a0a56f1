"""The audit chain: every change is recorded, the database refuses to change or remove
an event, and any tampering by someone who switched that off is detected."""

import os

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import ProtectedError

from refunds import audit
from refunds.audit import Actor, verify_chain
from refunds.models import AuditEvent, RefundClaim

ON_POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def history(make_claim, shop_a):
    for _ in range(3):
        make_claim(shop_a)  # submitted, checks started, awaiting merchant: 3 events each
    assert AuditEvent.objects.count() == 9


def _switch_the_triggers_off() -> None:
    """What tampering takes first: the table owner's rights on PostgreSQL (DISABLE
    TRIGGER), write access to the database file on SQLite (DROP TRIGGER). Undone with
    the test's transaction."""
    with connection.cursor() as cursor:
        if ON_POSTGRES:
            # (The test's own transaction still holds deferred foreign-key checks, which
            # ALTER TABLE refuses to run past; an attacker's session has none.)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE refunds_auditevent DISABLE TRIGGER USER")
        else:
            cursor.execute("DROP TRIGGER refunds_auditevent_no_update")
            cursor.execute("DROP TRIGGER refunds_auditevent_no_delete")


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
    _switch_the_triggers_off()
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
    _switch_the_triggers_off()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM refunds_auditevent WHERE seq = 4")
    _checked, broken = verify_chain()
    # Event 4 opened claim 2's chain: the chain now starts at its second place.
    assert broken.seq == 5 and "chain gap" in broken.problem


def test_events_cannot_be_changed_or_deleted_through_the_model(history):
    event = AuditEvent.objects.first()
    event.reason = "changed"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


# --- append-only in the database ----------------------------------------------------------


def _refused(statement) -> None:
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        statement()


def test_the_database_refuses_orm_updates_and_deletes_of_events(history):
    events = AuditEvent.objects.filter(seq__gte=4)
    first = AuditEvent.objects.get(seq=1)
    first.reason = "rewritten"

    _refused(lambda: events.update(reason="rewritten"))
    _refused(lambda: AuditEvent.objects.bulk_update([first], ["reason"]))
    _refused(lambda: events.delete())
    _refused(lambda: AuditEvent.objects.all().delete())

    assert AuditEvent.objects.count() == 9
    assert not AuditEvent.objects.filter(reason="rewritten").exists()
    assert verify_chain() == (9, None)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE refunds_auditevent SET reason = 'rewritten' WHERE seq = 5",
        "UPDATE refunds_auditevent SET hash = prev_hash",
        "DELETE FROM refunds_auditevent WHERE seq >= 8",
        "DELETE FROM refunds_auditevent",
    ],
)
def test_the_database_refuses_raw_sql_updates_and_deletes_of_events(history, sql):
    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql)

    _refused(run)

    assert verify_chain() == (9, None)


@pytest.mark.postgres
def test_postgresql_refuses_truncating_the_audit_table(history):
    def run():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as in _switch_the_triggers_off
            cursor.execute("TRUNCATE refunds_auditevent")

    _refused(run)

    assert AuditEvent.objects.count() == 9


@pytest.mark.postgres
def test_on_postgresql_only_the_tables_owner_can_switch_the_triggers_off(history):
    # given a role that may write every row of the table but owns nothing (as the
    # application's role should in production); rolled back with the test
    role = f"claimlens_test_app_{os.getpid()}"  # roles are the whole server's
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON refunds_auditevent TO {role}"
        )
        cursor.execute(f"SET ROLE {role}")
    attempts = [
        "ALTER TABLE refunds_auditevent DISABLE TRIGGER USER",
        "SET session_replication_role = replica",
        "DROP TRIGGER refunds_auditevent_no_update_delete ON refunds_auditevent",
        "DELETE FROM refunds_auditevent WHERE seq = 9",
    ]
    # when it tries every way round the triggers, then it is refused each time
    for sql in attempts:
        with pytest.raises(DatabaseError) as refused, transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)
        assert any(
            words in str(refused.value)
            for words in ("must be owner", "permission denied", "append-only")
        ), sql
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    assert AuditEvent.objects.count() == 9


def test_deleting_a_claim_with_a_history_is_refused_not_cascaded(history):
    claim = RefundClaim.objects.order_by("pk").first()
    events = set(claim.audit_events.values_list("seq", flat=True))

    with pytest.raises(ProtectedError), transaction.atomic():
        claim.delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:  # past the ORM, the foreign key refuses
            cursor.execute("DELETE FROM refunds_refundclaim WHERE id = %s", [claim.pk])
            connection.check_constraints(table_names=["refunds_auditevent"])

    assert RefundClaim.objects.filter(pk=claim.pk).exists()
    assert set(claim.audit_events.values_list("seq", flat=True)) == events
    assert verify_chain() == (9, None)


def test_verify_audit_reports_switched_off_triggers(history, capsys):
    call_command("verify_audit")
    assert "append-only triggers in place" in capsys.readouterr().out

    _switch_the_triggers_off()

    with pytest.raises(CommandError, match="not append-only.*refunds_auditevent_no_"):
        call_command("verify_audit")


def test_migrate_puts_removed_triggers_back(history):
    from django.core.management.sql import emit_post_migrate_signal

    _switch_the_triggers_off()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE refunds_auditevent SET reason = 'while off' WHERE seq = 1")

    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)

    _refused(lambda: AuditEvent.objects.filter(seq=2).update(reason="after"))
    assert verify_chain()[1].seq == 1  # what was done while they were off stays visible


# --- checkpoints: the head kept outside the database ------------------------------------


def _rewrite_from(seq: int, reason: str) -> None:
    """What an attacker with SQL access would do to hide an edit: change an event and
    recompute every hash after it in its claim's chain, so the chain verifies again."""
    from refunds.audit import compute_hash

    victim = AuditEvent.objects.get(seq=seq)
    chain = AuditEvent.objects.filter(chain_key=victim.chain_key)
    prev = chain.get(chain_seq=victim.chain_seq - 1).hash
    for event in chain.filter(chain_seq__gte=victim.chain_seq).order_by("chain_seq"):
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
    _switch_the_triggers_off()
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
    _switch_the_triggers_off()
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
    assert "0 newer events are not checkpointed yet" in after


# --- a checkpoint every Nth event -----------------------------------------------------------


def _append(count: int) -> None:
    with transaction.atomic():
        for _ in range(count):
            audit.record(action="rescored", actor=Actor.system("test"))


def test_every_nth_event_checkpoints_the_chain_after_its_commit(
    db, settings, media_in_tmp, django_capture_on_commit_callbacks, capsys
):
    from refunds.audit import checkpoint_latest

    settings.AUDIT_CHECKPOINT_EVERY = 4

    with django_capture_on_commit_callbacks() as callbacks:
        _append(3)
    assert callbacks == []  # below the Nth event: the beat checkpoint covers these
    with django_capture_on_commit_callbacks() as callbacks:
        _append(3)  # events 4, 5, 6
        # then nothing is written inside the transaction (nor under its lock)
        assert checkpoint_latest() is None
    assert len(callbacks) == 1
    callbacks[0]()  # what the commit runs

    assert checkpoint_latest().seq == 6  # the head when it ran, not only event 4
    call_command("verify_audit")
    assert "(event #6); 0 newer events" in capsys.readouterr().out
    with django_capture_on_commit_callbacks(execute=True):
        _append(2)  # events 7, 8
    assert checkpoint_latest().seq == 8


def test_a_failing_checkpoint_does_not_undo_the_committed_events(
    db, settings, tmp_path, django_capture_on_commit_callbacks, caplog
):
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocked), "base_url": None},
        },
    }
    settings.AUDIT_CHECKPOINT_EVERY = 2

    with django_capture_on_commit_callbacks(execute=True):
        _append(2)

    assert AuditEvent.objects.count() == 2
    assert "could not schedule an audit checkpoint" in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", ["first", "after the first one's flush"])
def test_the_triggers_hold_for_committed_work_and_outlive_a_flush(make_claim, shop_a, run):
    from refunds import append_only

    assert append_only.problems(connection) == []
    make_claim(shop_a)  # committed, not inside a test transaction

    with pytest.raises(IntegrityError, match="append-only"):
        AuditEvent.objects.filter(seq=1).delete()
    assert AuditEvent.objects.count() == 3
