from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from members.models import User
from members.services import staff_enrolment_code_issue
from portal.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Print a one-time code with which a staff member enrols an authenticator app "
        "(shown once, only its hash is stored; expires after STAFF_ENROLMENT_CODE_SECONDS; "
        "earlier unused codes of that person stop working). Audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        try:
            code, shown = staff_enrolment_code_issue(user=user)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        hours = settings.STAFF_ENROLMENT_CODE_SECONDS / 3600
        self.stderr.write(
            f"Enrolment code for {username} (valid until {code.expires_at:%Y-%m-%d %H:%M %Z}, "
            f"{hours:g} h, once). Hand it over in person or by another channel than e-mail:"
        )
        self.stdout.write(shown)
