from django.core.management.base import BaseCommand, CommandError

from refunds.audit import verify_chain, verify_checkpoint


class Command(BaseCommand):
    help = (
        "Walk the audit hash chain and report the first broken link, then check it against "
        "the latest checkpoint kept outside the database (exit code 1 on any problem)."
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
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {checked} events verified"))
        if checkpoint is None:
            self.stdout.write("no checkpoint stored yet: truncation cannot be ruled out")
        else:
            self.stdout.write(f"matches checkpoint {checkpoint.name} (event #{checkpoint.seq})")
