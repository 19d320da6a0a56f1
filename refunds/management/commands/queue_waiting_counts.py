import time

from django.core.management.base import BaseCommand, CommandError

from refunds import queue_counts


class Command(BaseCommand):
    help = (
        "Check the per-queue waiting counters against the claims waiting for a reviewer "
        "(exit code 1 when they differ), or --rebuild them from the claims (safe while the "
        "site runs: writers wait for the recount and then apply on top of it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="recount from the claims")

    def handle(self, *args, **options):
        started = time.perf_counter()
        if options["rebuild"]:
            rows = queue_counts.rebuild()
            self.stdout.write(
                f"waiting counters rebuilt: {rows} rows ({time.perf_counter() - started:.2f} s)"
            )
            return
        differences = queue_counts.differences()
        seconds = time.perf_counter() - started
        if differences:
            for (_tenant, queue_id, status, hour), counted, actual in differences[:20]:
                self.stderr.write(
                    f"queue {queue_id}, {status}, due {hour}: counted {counted}, claims {actual}"
                )
            raise CommandError(
                f"{len(differences)} waiting counters differ from the claims: run "
                "queue_waiting_counts --rebuild"
            )
        self.stdout.write(f"waiting counters exact ({seconds:.2f} s)")
