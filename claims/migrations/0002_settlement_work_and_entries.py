"""Settlement state moves off claims_expense (docs/adr/0005).

Before: a chunk claimed an expense by UPDATE claims_expense SET batch_id, a
new version of a wide row with an entry in each of its 14 indexes. After:
``claims_settlementwork`` (a narrow queue of what is still to settle) and
``claims_settlemententry`` (insert-only: every claim each batch covered,
primary key (expense, reversal)). Existing state is copied over: settled
expenses and reversals become entries, unsettled ones become work.
"""

import django.db.models.deletion
from django.db import migrations, models

from portal.db import append_only_sql

ENTRY_FWD, ENTRY_REV = append_only_sql("claims_settlemententry")

# true/false are spelled 1/0 for SQLite (the embedded default).
COPY_STATE = """
INSERT INTO claims_settlemententry (expense_id, reversal, batch_id, chunk)
SELECT id, {false}, batch_id, batch_chunk FROM claims_expense WHERE batch_id IS NOT NULL
UNION ALL
SELECT id, {true}, reversal_batch_id, NULL FROM claims_expense WHERE reversal_batch_id IS NOT NULL;
INSERT INTO claims_settlementwork (expense_id, kind, institution_id, due_at, fund_fen)
SELECT id, 'expense', institution_id, created_at, fund_fen FROM claims_expense
 WHERE batch_id IS NULL AND status = 'accepted'
UNION ALL
SELECT id, 'reversal', institution_id, reversed_at, fund_fen FROM claims_expense
 WHERE batch_id IS NOT NULL AND reversal_batch_id IS NULL AND status = 'reversed';
"""

# Going back: the columns are added again (empty) before this runs.
COPY_STATE_BACK = """
UPDATE claims_expense SET
  batch_id = (SELECT batch_id FROM claims_settlemententry s
               WHERE s.expense_id = claims_expense.id AND s.reversal = {false}),
  batch_chunk = (SELECT chunk FROM claims_settlemententry s
                  WHERE s.expense_id = claims_expense.id AND s.reversal = {false}),
  reversal_batch_id = (SELECT batch_id FROM claims_settlemententry s
                        WHERE s.expense_id = claims_expense.id AND s.reversal = {true})
 WHERE id IN (SELECT expense_id FROM claims_settlemententry);
"""


def _run(schema_editor, sql: str) -> None:
    pg = schema_editor.connection.vendor == "postgresql"
    sql = sql.format(true="true" if pg else "1", false="false" if pg else "0")
    for statement in sql.split(";\n"):
        if statement.strip():
            schema_editor.execute(statement, params=None)


def forward(apps, schema_editor):
    _run(schema_editor, COPY_STATE)
    if schema_editor.connection.vendor == "postgresql":
        # A batch's rows are found by a BRIN index: they arrive in batch
        # order, and a B-tree entry per row would cost about as much as the
        # row itself.
        schema_editor.execute(
            "CREATE INDEX claims_entry_batch ON claims_settlemententry USING brin (batch_id)",
            params=None,
        )
        schema_editor.execute(ENTRY_FWD, params=None)
    else:
        schema_editor.execute(
            "CREATE INDEX claims_entry_batch ON claims_settlemententry (batch_id)", params=None
        )
        for op in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER claims_settlemententry_no_{op.lower()} BEFORE {op} "
                "ON claims_settlemententry BEGIN SELECT RAISE(ABORT, "
                "'claims_settlemententry is append-only'); END",
                params=None,
            )


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ENTRY_REV, params=None)
    else:
        for op in ("update", "delete"):
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS claims_settlemententry_no_{op}", params=None
            )
    schema_editor.execute("DROP INDEX claims_entry_batch", params=None)
    _run(schema_editor, COPY_STATE_BACK)


class Migration(migrations.Migration):
    dependencies = [("claims", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="SettlementEntry",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "expense",
                        "reversal",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("reversal", models.BooleanField()),
                ("chunk", models.IntegerField(null=True)),
                (
                    "batch",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="entries",
                        to="claims.settlementbatch",
                    ),
                ),
                (
                    "expense",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="settlement_entries",
                        to="claims.expense",
                    ),
                ),
            ],
            options={"verbose_name_plural": "settlement entries"},
        ),
        migrations.CreateModel(
            name="SettlementWork",
            fields=[
                (
                    "expense",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="settlement_work",
                        serialize=False,
                        to="claims.expense",
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("expense", "Expense"), ("reversal", "Reversal")], max_length=8
                    ),
                ),
                ("due_at", models.DateTimeField()),
                ("fund_fen", models.BigIntegerField()),
                (
                    "institution",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="claims.institution",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["institution", "expense"], name="claims_work_queue")],
            },
        ),
        migrations.RunPython(forward, reverse),
        migrations.RemoveConstraint(
            model_name="expense", name="claims_reversal_settled_after_expense"
        ),
        migrations.RemoveIndex(model_name="expense", name="claims_unsettled"),
        migrations.RemoveIndex(model_name="expense", name="claims_unsettled_reversal"),
        migrations.RemoveIndex(model_name="expense", name="claims_batch_items"),
        migrations.RemoveField(model_name="expense", name="batch"),
        migrations.RemoveField(model_name="expense", name="batch_chunk"),
        migrations.RemoveField(model_name="expense", name="reversal_batch"),
    ]
