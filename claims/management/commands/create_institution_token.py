from django.core.management.base import BaseCommand, CommandError

from claims.models import Institution, InstitutionKind
from claims.services import institution_create, institution_token_create


class Command(BaseCommand):
    help = (
        "Create an API token for a designated institution (created if --name and --kind "
        "are given). The token is printed once; only its SHA-256 is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--institution", type=int, help="id of an existing institution")
        parser.add_argument("--name")
        parser.add_argument("--kind", choices=InstitutionKind.values)
        parser.add_argument("--region", default="110100")

    def handle(self, *args, **opts):
        if opts["institution"]:
            institution = Institution.objects.filter(pk=opts["institution"]).first()
            if institution is None:
                raise CommandError(f"no institution {opts['institution']}")
        elif opts["name"] and opts["kind"]:
            institution = institution_create(
                name=opts["name"], kind=opts["kind"], region=opts["region"]
            )
        else:
            raise CommandError("give --institution ID, or --name and --kind")
        _token, raw = institution_token_create(institution=institution)
        self.stdout.write(f"institution {institution.pk} ({institution.name})")
        self.stdout.write(f"token (shown once): {raw}")
