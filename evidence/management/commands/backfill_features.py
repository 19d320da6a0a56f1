from django.core.management.base import BaseCommand

from evidence.services import evidence_backfill_features


class Command(BaseCommand):
    help = (
        "Store ORB features for checked evidence files that have none (checked before "
        "every file kept them), so the reuse check can confirm them by registration. "
        "Safe to run again."
    )

    def handle(self, *args, **options):
        counts = evidence_backfill_features()
        self.stdout.write(
            f"features stored for {counts['stored']} file(s); "
            f"{counts['undecodable']} file(s) could not be decoded and were left as they are"
        )
