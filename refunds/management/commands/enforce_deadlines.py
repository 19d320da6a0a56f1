from django.core.management.base import BaseCommand

from refunds.services import enforce_deadlines


class Command(BaseCommand):
    help = "Move every claim whose deadline has passed (what the periodic task does)."

    def handle(self, *args, **options):
        self.stdout.write(str(enforce_deadlines()))
