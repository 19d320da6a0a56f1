from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from refunds import append_only
from refunds.audit import events_after, verify_chain, verify_checkpoint


class Command(BaseCommand):
    help = (
        "Walk the audit hash chain and report the first broken link, check it against the "
        "latest checkpoint kept outside the database, and check that the triggers keeping "
        "the table append-only are in place (exit code 1 on any problem)."
    )

    def handle(self, *args, **options):
        checked, broken = verify_chain()
        if broken:
            raise CommandError(
                f"audit chain broken at event #{broken.seq}: {broken.problem} "
                f"({checked} events verified before it)"
            )
        checkpoint, problem = verify_checkpoint()
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
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {checked} events verified"))
        self.stdout.write("append-only triggers in place")
        if checkpoint is None:
            self.stdout.write("no checkpoint stored yet: truncation cannot be ruled out")
        else:
            self.stdout.write(
                f"matches checkpoint {checkpoint.name} (event #{checkpoint.seq}); "
                f"{events_after(checkpoint)} newer events are not checkpointed yet"
            )
