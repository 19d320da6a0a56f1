from django.core.management.base import BaseCommand, CommandError

from refunds.audit import verify_chain


class Command(BaseCommand):
    help = "Walk the audit hash chain and report the first broken link (exit code 1 if any)."

    def handle(self, *args, **options):
        checked, broken = verify_chain()
        if broken:
            raise CommandError(
                f"audit chain broken at event #{broken.seq}: {broken.problem} "
                f"({checked} events verified before it)"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {checked} events verified"))
