"""A posting and a pending balance change go into the indexes a query reads,
and no twins (issue 16, docs/adr/0001-ledger.md).

- ``accounts_posting``: the index of ``transaction`` alone duplicated the
  unique (transaction, account) and the index of ``account`` alone duplicated
  (account, id); both lead with the column, so every look-up by either is
  served as before. A posting is written into three indexes instead of five.
- ``accounts_balancedelta``: ``account`` was indexed twice (the column's own
  index and ``accounts_delta_account``); one stays.

Only the indexes are dropped: the foreign keys stay as they are (Django's
AlterField would drop and re-add them, checking every posting again).
"""

import django.db.models.deletion
from django.db import migrations, models

DROPPED = {
    "accounts_balancedelta_account_id_455da5d1": ("accounts_balancedelta", "account_id"),
    "accounts_posting_account_id_727ca466": ("accounts_posting", "account_id"),
    "accounts_posting_transaction_id_7dae3038": ("accounts_posting", "transaction_id"),
}


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_merge_resident_account_and_balance_deltas")]

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
                    model_name="balancedelta",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.ledgeraccount",
                    ),
                ),
                migrations.AlterField(
                    model_name="posting",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="postings",
                        to="accounts.ledgeraccount",
                    ),
                ),
                migrations.AlterField(
                    model_name="posting",
                    name="transaction",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="postings",
                        to="accounts.journaltransaction",
                    ),
                ),
            ],
        )
    ]
