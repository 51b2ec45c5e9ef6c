"""A B-tree on (batch, expense) replaces the BRIN index on batch (0002): with
BRIN the planner walked the primary key to list a batch's first page (1.8 s
for a batch of a million), and no faster settlement was measurable with it."""

from django.db import migrations, models


def drop_old(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS claims_entry_batch", params=None)


def make_old(apps, schema_editor):
    using = "USING brin " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f"CREATE INDEX claims_entry_batch ON claims_settlemententry {using}(batch_id)",
        params=None,
    )


class Migration(migrations.Migration):
    dependencies = [("claims", "0003_settlement_queue_autovacuum")]
    operations = [
        migrations.RunPython(drop_old, make_old),
        migrations.AddIndex(
            model_name="settlemententry",
            index=models.Index(fields=["batch", "expense"], name="claims_entry_batch"),
        ),
    ]
