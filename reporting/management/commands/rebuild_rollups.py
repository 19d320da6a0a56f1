import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from reporting.services import rollups_rebuild


class Command(BaseCommand):
    help = (
        "Recompute the statistics' daily rollups from the claims, decisions and checks: "
        "every day, or every day from --since (YYYY-MM-DD, local time)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="first day to recompute (YYYY-MM-DD)")

    def handle(self, *args, since=None, **options):
        try:
            first = dt.date.fromisoformat(since) if since else None
        except ValueError as exc:
            raise CommandError(f"--since: {exc}") from exc
        started = time.monotonic()
        days = rollups_rebuild(since=first)
        self.stdout.write(f"{days} days rebuilt in {time.monotonic() - started:.1f} s")
