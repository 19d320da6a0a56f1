from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from refunds import append_only
from refunds.audit import (
    checkpoint_latest,
    events_after,
    verify_checkpoints,
    verify_full,
    verify_since,
)


class Command(BaseCommand):
    help = (
        "Walk the audit hash chains and report the first broken link, check them against "
        "the checkpoints kept outside the database, and check that the triggers keeping "
        "the table append-only are in place (exit code 1 on any problem). --incremental "
        "checks only what is newer than the latest checkpoint, and that checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="only the events newer than the latest checkpoint and its segment",
        )

    def handle(self, *args, **options):
        incremental = options["incremental"]
        latest = checkpoint_latest() if incremental else None
        report = verify_since(latest.seq) if latest else verify_full()
        if report.broken:
            raise CommandError(
                f"audit chain broken at event #{report.broken.seq}: {report.broken.problem} "
                f"({report.checked} events verified before it)"
            )
        checked, problem = verify_checkpoints(last=1 if incremental else None)
        if problem:
            raise CommandError(f"audit chain does not match its checkpoint: {problem}")
        triggers = append_only.problems(connection)
        if triggers:
            raise CommandError(
                "the audit table is not append-only: "
                + "; ".join(triggers)
                + " (run `manage.py migrate` to put the triggers back, and find out who "
                "removed them)"
            )
        scope = f"since checkpoint event #{latest.seq}" if latest else "full walk"
        self.stdout.write(
            self.style.SUCCESS(
                f"audit chain intact: {report.checked} events verified ({scope}, "
                f"{report.chains} chains, {report.seconds:.2f} s, "
                f"{report.per_second:,.0f} events/s)"
            )
        )
        self.stdout.write("append-only triggers in place")
        if not checked:
            self.stdout.write("no checkpoint stored yet: truncation cannot be ruled out")
        else:
            head = checked[-1]
            self.stdout.write(
                f"{len(checked)} checkpoint segment(s) verified; matches checkpoint "
                f"{head.name} (event #{head.seq}); "
                f"{events_after(head)} newer events are not checkpointed yet"
            )
