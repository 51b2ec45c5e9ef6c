from django.core.management.base import BaseCommand

from portal import demo


class Command(BaseCommand):
    help = "Load the demo data (idempotent) and print the demo sign-ins."

    def handle(self, *args, **options):
        demo.seed(stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"Demo sign-ins (password for all: {demo.DEMO_PASSWORD}):")
        )
        for who, login in demo.sign_ins():
            self.stdout.write(f"  {who:<40} {login}")
