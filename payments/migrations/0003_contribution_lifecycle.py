"""Contribution lifecycle (docs/adr/0008): the import that settled an arrears
month, settled/refunded counts, and the bad-row report moved from a text
column to a file in private storage (existing reports are written out)."""

import os
import secrets
from pathlib import Path

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _write(text: str) -> str:
    directory = Path(settings.PRIVATE_MEDIA_ROOT) / "imports"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = secrets.token_hex(24)
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return name


def reports_to_files(apps, schema_editor):
    ImportBatch = apps.get_model("payments", "ImportBatch")
    for batch in ImportBatch.objects.exclude(report_csv="").only("pk", "report_csv").iterator():
        ImportBatch.objects.filter(pk=batch.pk).update(report_name=_write(batch.report_csv))


def reports_to_column(apps, schema_editor):
    ImportBatch = apps.get_model("payments", "ImportBatch")
    directory = Path(settings.PRIVATE_MEDIA_ROOT) / "imports"
    for batch in ImportBatch.objects.exclude(report_name="").only("pk", "report_name").iterator():
        path = directory / batch.report_name
        if path.exists():
            text = path.read_text(encoding="utf-8")
            ImportBatch.objects.filter(pk=batch.pk).update(report_csv=text)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_demo_policies"),
    ]

    operations = [
        migrations.AddField(
            model_name="contribution",
            name="settled_batch",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="settled",
                to="payments.importbatch",
            ),
        ),
        migrations.AddField(
            model_name="importbatch",
            name="report_name",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="importbatch",
            name="rows_refunded",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="importbatch",
            name="rows_settled",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(reports_to_files, reports_to_column, elidable=True),
        migrations.RemoveField(model_name="importbatch", name="report_csv"),
    ]
