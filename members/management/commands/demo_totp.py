from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from members.demo import DEMO_TOTP_KEY
from portal.security import totp_code


class Command(BaseCommand):
    help = (
        "Print the current one-time code of a demo staff user (only for devices "
        "seeded with the public demo secret; real devices are refused)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", default="staff")

    def handle(self, *args, username, **options):
        device = TOTPDevice.objects.filter(
            user__username=username, key=DEMO_TOTP_KEY, confirmed=True
        ).first()
        if device is None:
            raise CommandError(
                f"{username!r} has no demo TOTP device (run `python manage.py seed_demo`)."
            )
        self.stdout.write(totp_code(device))
