from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_verify


class Command(BaseCommand):
    help = "Check the hash chain of the audit trail; exit non-zero listing every broken link."

    def handle(self, *args, **options):
        problems = audit_verify()
        if problems:
            for p in problems:
                self.stderr.write(p)
            raise CommandError(f"audit trail broken: {len(problems)} problem(s)")
        self.stdout.write(self.style.SUCCESS("audit trail intact"))
