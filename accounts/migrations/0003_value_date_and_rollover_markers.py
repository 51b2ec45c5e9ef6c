"""Value dates on ledger transactions, and one rollover record per member per
year (docs/adr/0002-rollover-and-crediting.md).

Existing transactions are valued on the local date (settings.TIME_ZONE) they
were created; an existing year-end rollover (key ``rollover:<year>:<person>``)
on 31 December of its year, and it gets its ``Rollover`` record (the amount it
moved; the balances it saw are not known, so both are recorded as that amount).
Journal transactions are append-only on PostgreSQL: the backfill switches
their UPDATE guard off for its one statement, inside this migration's
transaction.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

PG_BACKFILL = [
    "ALTER TABLE accounts_journaltransaction DISABLE TRIGGER accounts_journaltransaction_no_update",
    """
UPDATE accounts_journaltransaction SET value_date = CASE
    WHEN kind = 'rollover' AND idempotency_key ~ '^rollover:[0-9]{4}:'
      THEN make_date(split_part(idempotency_key, ':', 2)::int, 12, 31)
    ELSE (created_at AT TIME ZONE %(tz)s)::date END""",
    "ALTER TABLE accounts_journaltransaction ENABLE TRIGGER accounts_journaltransaction_no_update",
    """
INSERT INTO accounts_rollover
  (person_id, year, amount_fen, balance_as_of_fen, balance_at_run_fen, transaction_id, created_at)
SELECT a.person_id, split_part(t.idempotency_key, ':', 2)::int, p.amount_fen, p.amount_fen,
       p.amount_fen, t.id, t.created_at
  FROM accounts_journaltransaction t
  JOIN accounts_posting p ON p.transaction_id = t.id AND p.amount_fen > 0
  JOIN accounts_ledgeraccount a ON a.id = p.account_id AND a.kind = 'member_prior'
 WHERE t.kind = 'rollover' AND t.idempotency_key ~ '^rollover:[0-9]{4}:'
ON CONFLICT DO NOTHING""",
]


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for sql in PG_BACKFILL:
                cursor.execute(sql, {"tz": settings.TIME_ZONE} if "%(tz)s" in sql else None)
        return
    # The embedded SQLite demo: small, through the ORM.
    JournalTransaction = apps.get_model("accounts", "JournalTransaction")
    Posting = apps.get_model("accounts", "Posting")
    Rollover = apps.get_model("accounts", "Rollover")
    for txn in JournalTransaction.objects.all().iterator():
        parts = txn.idempotency_key.split(":")
        if txn.kind == "rollover" and len(parts) == 3 and parts[1].isdigit():
            txn.value_date = timezone.datetime(int(parts[1]), 12, 31).date()
            moved = Posting.objects.filter(
                transaction=txn, amount_fen__gt=0, account__kind="member_prior"
            ).first()
            if moved is not None:
                Rollover.objects.get_or_create(
                    person_id=moved.account.person_id,
                    year=int(parts[1]),
                    defaults={
                        "amount_fen": moved.amount_fen,
                        "balance_as_of_fen": moved.amount_fen,
                        "balance_at_run_fen": moved.amount_fen,
                        "transaction": txn,
                        "created_at": txn.created_at,
                    },
                )
        else:
            txn.value_date = timezone.localtime(txn.created_at).date()
        txn.save(update_fields=["value_date"])


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_ledger_rules'),
        ('members', '0002_encrypt_id_number'),
    ]

    operations = [
        migrations.CreateModel(
            name='YearEndClosing',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('year', models.PositiveSmallIntegerField(unique=True)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'year-end closing',
                'verbose_name_plural': 'year-end closings',
            },
        ),
        migrations.AddField(
            model_name='journaltransaction',
            name='value_date',
            field=models.DateField(null=True),
        ),
        migrations.CreateModel(
            name='Rollover',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('year', models.PositiveSmallIntegerField()),
                ('amount_fen', models.BigIntegerField()),
                ('balance_as_of_fen', models.BigIntegerField()),
                ('balance_at_run_fen', models.BigIntegerField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('person', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='rollovers', to='members.insuredperson')),
                ('transaction', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.journaltransaction')),
            ],
            options={
                'verbose_name': 'year-end rollover',
                'verbose_name_plural': 'year-end rollovers',
                'constraints': [models.UniqueConstraint(fields=('person', 'year'), name='ledger_one_rollover_per_year'), models.CheckConstraint(condition=models.Q(('amount_fen__gte', 0)), name='ledger_rollover_not_negative'), models.CheckConstraint(condition=models.Q(models.Q(('amount_fen', 0), ('transaction__isnull', True)), models.Q(('amount_fen__gt', 0), ('transaction__isnull', False)), _connector='OR'), name='ledger_rollover_has_transaction_iff_money_moved')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='journaltransaction',
            name='value_date',
            field=models.DateField(db_index=True, default=django.utils.timezone.localdate),
        ),
    ]
