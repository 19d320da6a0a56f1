"""The audit table is append-only in the database itself, not only in the model.

Triggers refuse every UPDATE and DELETE of ``refunds_auditevent`` (and TRUNCATE on
PostgreSQL), whoever sends them: the ORM (``QuerySet.update``/``delete`` never call the
model's ``save``/``delete``), raw SQL, a database console, a bug. Only someone who can
change the schema gets past them, and has to do so visibly first:

* PostgreSQL: ``ALTER TABLE refunds_auditevent DISABLE TRIGGER`` needs the table's owner
  (or a superuser, who could also ``SET session_replication_role``; the triggers are
  ``ENABLE ALWAYS`` so that setting alone does not silence them). Run the application with
  a role that does not own the tables and nobody holding its credentials can cut events.
* SQLite has no privileges: anyone who may write the database file may ``DROP TRIGGER``.
  There the triggers stop mistakes and application code, not an attacker with the file.

Hand-written rather than django-pgtrigger's ``Protect``: pgtrigger's triggers all obey a
session setting (``SET pgtrigger.ignore = ...``) that any role may set, which would let the
application role itself switch the protection off without owning anything.

:func:`install` runs from the migration that introduced the triggers and again after every
``migrate`` (``post_migrate``): a later migration that rebuilds the table on SQLite (which
drops its triggers) cannot leave it unprotected, and a ``flush`` (which tests use) finds
them back afterwards. :func:`problems` is what ``verify_audit`` reports.
"""

from __future__ import annotations

TABLE = "refunds_auditevent"
SQLITE_TRIGGERS = ("refunds_auditevent_no_update", "refunds_auditevent_no_delete")
PG_FUNCTION = "refunds_auditevent_append_only"
PG_TRIGGERS = ("refunds_auditevent_no_update_delete", "refunds_auditevent_no_truncate")
# The migration that introduced the triggers: post_migrate installs them only once it is
# applied (migrating backwards past it must leave the table as it was). Matched by its
# name's end, as a merge may renumber it.
MIGRATION_SUFFIX = "auditevent_append_only"

_SQLITE_INSTALL = [
    f"CREATE TRIGGER IF NOT EXISTS {SQLITE_TRIGGERS[0]} BEFORE UPDATE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END",
    f"CREATE TRIGGER IF NOT EXISTS {SQLITE_TRIGGERS[1]} BEFORE DELETE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END",
]
# SQLSTATE 23000 (integrity_constraint_violation): Django raises IntegrityError on both
# databases, as it does for SQLite's RAISE(ABORT).
_PG_INSTALL = [
    f"""CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$""",
    f"DROP TRIGGER IF EXISTS {PG_TRIGGERS[0]} ON {TABLE}",
    f"CREATE TRIGGER {PG_TRIGGERS[0]} BEFORE UPDATE OR DELETE ON {TABLE} "
    f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
    f"DROP TRIGGER IF EXISTS {PG_TRIGGERS[1]} ON {TABLE}",
    f"CREATE TRIGGER {PG_TRIGGERS[1]} BEFORE TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()",
    f"ALTER TABLE {TABLE} ENABLE ALWAYS TRIGGER {PG_TRIGGERS[0]}",
    f"ALTER TABLE {TABLE} ENABLE ALWAYS TRIGGER {PG_TRIGGERS[1]}",
]
_SQLITE_UNINSTALL = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
_PG_UNINSTALL = [
    *(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}" for name in PG_TRIGGERS),
    f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()",
]


def install(connection) -> None:
    """Create (or re-create) the triggers; idempotent."""
    _execute(connection, _PG_INSTALL if connection.vendor == "postgresql" else _SQLITE_INSTALL)


def uninstall(connection) -> None:
    """Drop the triggers (the migration's reverse; tests before a flush)."""
    _execute(connection, _PG_UNINSTALL if connection.vendor == "postgresql" else _SQLITE_UNINSTALL)


def problems(connection) -> list[str]:
    """What is missing or switched off; empty when every trigger is in place and on."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, tgenabled FROM pg_trigger "
                "WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [TABLE],
            )
            found = dict(cursor.fetchall())
            expected = PG_TRIGGERS
        else:
            cursor.execute(
                "SELECT name, 'A' FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [TABLE],
            )
            found = dict(cursor.fetchall())
            expected = SQLITE_TRIGGERS
    issues = []
    for name in expected:
        state = found.get(name)
        if state is None:
            issues.append(f"trigger {name} is missing")
        elif state in ("D", "R"):  # disabled, or firing only for replication
            issues.append(f"trigger {name} is disabled")
    return issues


def install_after_migrate(sender, using, **kwargs) -> None:
    """``post_migrate`` receiver: put the triggers back if a migration or a flush removed
    them, once the migration that introduced them is applied."""
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    connection = connections[using]
    if TABLE not in connection.introspection.table_names():
        return
    applied = MigrationRecorder(connection).applied_migrations()
    if any(app == "refunds" and name.endswith(MIGRATION_SUFFIX) for app, name in applied):
        install(connection)


def _execute(connection, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
