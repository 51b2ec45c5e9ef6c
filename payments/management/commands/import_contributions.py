from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from payments.services import contributions_import, import_max_bytes, import_report_text
from portal.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Import a contributions CSV (UTF-8; columns in README.md; at most IMPORT_MAX_BYTES). "
        "Valid rows are imported and credited; bad rows are listed. Exits 1 if the file was "
        "refused or had bad rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--report", type=Path, help="write the bad-row report (CSV) to this path"
        )

    def handle(self, *args, file: Path, report: Path | None, **options):
        try:
            size = file.stat().st_size
            if size > import_max_bytes():
                raise CommandError(
                    f"{file} is {size} bytes; the limit is {import_max_bytes()} bytes "
                    "(IMPORT_MAX_BYTES). Split it. Nothing was imported."
                )
            with file.open("rb") as fh:
                batch = contributions_import(data=fh, file_name=file.name)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if batch.refused:
            raise CommandError(batch.refused)
        self.stdout.write(
            f"{batch.rows_total} row(s): {batch.rows_imported} imported, "
            f"{batch.rows_settled} arrears now paid, {batch.rows_refunded} refunded, "
            f"{batch.rows_already} already imported, {batch.rows_bad} bad"
        )
        if batch.rows_bad:
            text = import_report_text(batch)
            if report:
                report.write_text(text, encoding="utf-8")
                self.stderr.write(f"report of bad rows written to {report}")
            else:
                self.stderr.write(text)
            raise CommandError(f"{batch.rows_bad} bad row(s) not imported")
