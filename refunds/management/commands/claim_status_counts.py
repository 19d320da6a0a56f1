import time

from django.core.management.base import BaseCommand, CommandError

from refunds import lifecycle


class Command(BaseCommand):
    help = (
        "Check the per-shop status counters against the claims (exit code 1 when they "
        "differ), or --rebuild them from the claims (safe while the site runs: transitions "
        "wait for the recount and then apply on top of it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="recount from the claims")

    def handle(self, *args, **options):
        started = time.perf_counter()
        if options["rebuild"]:
            rows = lifecycle.counts_rebuild()
            self.stdout.write(
                f"status counters rebuilt: {rows} rows ({time.perf_counter() - started:.2f} s)"
            )
            return
        differences = lifecycle.counts_differences()
        seconds = time.perf_counter() - started
        if differences:
            for merchant_id, status, counted, actual in differences[:20]:
                self.stderr.write(
                    f"shop {merchant_id}, {status}: counted {counted}, claims {actual}"
                )
            raise CommandError(
                f"{len(differences)} shop/status counts differ from the claims: run "
                "claim_status_counts --rebuild"
            )
        self.stdout.write(f"status counters exact ({seconds:.2f} s)")
