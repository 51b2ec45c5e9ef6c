from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from payments.services import contributions_import


class Command(BaseCommand):
    help = (
        "Import a contributions CSV (UTF-8; columns in README.md). Valid rows are imported "
        "and credited; bad rows are listed. Exits 1 if the file was refused or had bad rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--report", type=Path, help="write the bad-row report (CSV) to this path"
        )

    def handle(self, *args, file: Path, report: Path | None, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        batch = contributions_import(data=data, file_name=file.name)
        if batch.refused:
            raise CommandError(batch.refused)
        self.stdout.write(
            f"{batch.rows_total} row(s): {batch.rows_imported} imported, "
            f"{batch.rows_already} already imported, {batch.rows_bad} bad"
        )
        if batch.report_csv:
            if report:
                report.write_text(batch.report_csv, encoding="utf-8")
                self.stderr.write(f"report of bad rows written to {report}")
            else:
                self.stderr.write(batch.report_csv)
            raise CommandError(f"{batch.rows_bad} bad row(s) not imported")
