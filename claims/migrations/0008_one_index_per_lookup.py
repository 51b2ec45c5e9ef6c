"""An expense and its parts go into the indexes a query reads, and no twins
(issue 16).

- ``claims_expense.patient``: ``claims_patient_recent`` (patient, date, id)
  leads with it and serves every look-up by patient.
- ``claims_expensepart.grantor``: ``claims_part_grantor`` (grantor, payer)
  holds every part that has a grantor, which is every part a look-up by
  grantor can find.

Only the indexes are dropped: the foreign keys stay as they are.
"""

import django.db.models.deletion
from django.db import migrations, models

DROPPED = {
    "claims_expense_patient_id_35f0b137": ("claims_expense", "patient_id"),
    "claims_expensepart_grantor_id_3c1fad5c": ("claims_expensepart", "grantor_id"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0007_expense_pool_and_basis"),
        ("members", "0004_staff_enrolment_codes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {name}",
                    f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})",
                )
                for name, (table, column) in DROPPED.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="expense",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="expenses",
                        to="members.insuredperson",
                    ),
                ),
                migrations.AlterField(
                    model_name="expensepart",
                    name="grantor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="members.insuredperson",
                    ),
                ),
            ],
        )
    ]
