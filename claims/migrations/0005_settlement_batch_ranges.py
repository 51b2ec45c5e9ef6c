"""A batch's expenses are found through the institution's expenses, not
through an index on every settlement entry (ADR 0005).

Each batch records the lowest and highest id of the expenses it settled
(filled here from the entries already written); claims_expense's index on
the institution becomes (institution, id); the (batch, expense) index on
settlement entries is kept for reversals only, which are few.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Max, Min


def fill_ranges(apps, schema_editor):
    Batch = apps.get_model("claims", "SettlementBatch")
    Entry = apps.get_model("claims", "SettlementEntry")
    ranges = (
        Entry.objects.filter(reversal=False)
        .values("batch_id")
        .annotate(lo=Min("expense_id"), hi=Max("expense_id"))
        .order_by()
    )
    for r in ranges:
        Batch.objects.filter(pk=r["batch_id"]).update(
            lowest_expense_id=r["lo"], highest_expense_id=r["hi"]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0004_settlement_entry_batch_btree"),
    ]

    operations = [
        migrations.AddField(
            model_name="settlementbatch",
            name="lowest_expense_id",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="settlementbatch",
            name="highest_expense_id",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.RunPython(fill_ranges, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="expense",
            index=models.Index(fields=["institution", "id"], name="claims_expense_institution"),
        ),
        migrations.AlterField(
            model_name="expense",
            name="institution",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="expenses",
                to="claims.institution",
            ),
        ),
        migrations.AddIndex(
            model_name="settlemententry",
            index=models.Index(
                condition=models.Q(("reversal", True)),
                fields=["batch", "expense"],
                name="claims_entry_batch_reversals",
            ),
        ),
        migrations.RemoveIndex(
            model_name="settlemententry",
            name="claims_entry_batch",
        ),
    ]
