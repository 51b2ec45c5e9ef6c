from django.core.management.base import BaseCommand, CommandError

from accounts.services import rollover_year
from portal.errors import ApplicationError
from portal.money import format_yuan


class Command(BaseCommand):
    help = (
        "Year-end rollover: move each member's current-year balance as of 31 December "
        "to prior-years, exactly once per member per year, recording every member "
        "(safe to re-run, resume after a kill or run late; years are rolled in order)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True, help="the year that ended")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--pause", type=float, default=0.0, help="seconds to wait between batches"
        )

    def handle(self, *args, year, batch_size, pause, **options):
        def progress(n):
            if options["verbosity"] > 1:
                self.stdout.write(f"  batch {n} committed")
                self.stdout.flush()

        try:
            result = rollover_year(
                year=year, batch_size=batch_size, pause_seconds=pause, on_batch=progress
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"rollover {year}: {result.members_rolled} member(s) rolled, "
                f"{format_yuan(result.fen_moved)} yuan moved, {result.batches} batch(es)"
            )
        )
