from django.core.management.base import BaseCommand

from evidence.services import evidence_backfill_features


class Command(BaseCommand):
    help = (
        "Store ORB features for checked evidence files that have none (checked before "
        "every file kept them), so the reuse check can confirm them by registration, and "
        "the crop hashes of claim photos that lack some of the index's crop boxes, so a "
        "picture cut from them is found. Safe to run again."
    )

    def handle(self, *args, **options):
        counts = evidence_backfill_features()
        self.stdout.write(
            f"features stored for {counts['stored']} file(s); "
            f"crop hashes stored for {counts['crops']} claim photo(s); "
            f"{counts['undecodable']} file(s) could not be decoded and were left as they are"
        )
