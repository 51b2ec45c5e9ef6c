"""No submission waits for another on a shared account (issue 16, ADR 0001).

PostgreSQL: the posting trigger now locks and updates the cached
``balance_fen`` of member pockets only (the CHECK keeps refusing a pocket
below zero). For every other account (pooled fund, receivable, institution
payables) it appends one ``accounts_balancedelta`` row per account per
statement instead of updating the shared row, so concurrent postings to one
payable never queue on its row lock. The balance of such an account is its
``balance_fen`` snapshot plus its pending deltas; deleting deltas folds them
into the snapshot (a statement trigger, in the same statement). Deltas are
written only by the posting trigger and never updated.

Existing rows need no change: every snapshot already equals its postings and
there are no pending deltas. The SQLite demo keeps its row-level trigger
(every balance on the row; no deltas).
"""

import django.db.models.deletion
from django.db import migrations, models

from portal.db import TRUNCATE_ALLOWED_SQL

POCKETS = "('member_current', 'member_prior')"

APPLY_FWD = f"""
CREATE OR REPLACE FUNCTION accounts_posting_apply() RETURNS trigger AS $$
DECLARE
  bad_txn bigint;
  appended boolean;
BEGIN
  -- Member pockets: locked in id order, cached balance moved (CHECK >= 0).
  PERFORM 1 FROM accounts_ledgeraccount
    WHERE id IN (SELECT DISTINCT account_id FROM new_rows) AND kind IN {POCKETS}
    ORDER BY id FOR UPDATE;
  UPDATE accounts_ledgeraccount a SET balance_fen = a.balance_fen + s.total
    FROM (SELECT account_id, sum(amount_fen) AS total FROM new_rows GROUP BY account_id) s
    WHERE a.id = s.account_id AND a.kind IN {POCKETS};
  -- Shared accounts: no lock, no update; one pending delta per account.
  INSERT INTO accounts_balancedelta (account_id, amount_fen)
    SELECT s.account_id, s.total
      FROM (SELECT account_id, sum(amount_fen) AS total FROM new_rows GROUP BY account_id) s
      JOIN accounts_ledgeraccount a ON a.id = s.account_id
     WHERE a.kind NOT IN {POCKETS} AND s.total <> 0
     ORDER BY s.account_id;
  -- Every touched transaction: all its postings came with this statement
  -- (sealed), they sum to zero and there are at least two.
  SELECT t.transaction_id, t.n_all <> i.n_new INTO bad_txn, appended
    FROM (SELECT transaction_id, count(*) AS n_new FROM new_rows GROUP BY transaction_id) i
    JOIN (SELECT p.transaction_id, sum(p.amount_fen) AS total, count(*) AS n_all
            FROM accounts_posting p
           WHERE p.transaction_id IN (SELECT DISTINCT transaction_id FROM new_rows)
           GROUP BY p.transaction_id) t ON t.transaction_id = i.transaction_id
   WHERE t.n_all <> i.n_new OR t.total <> 0 OR t.n_all < 2
   ORDER BY 2 DESC, 1
   LIMIT 1;
  IF bad_txn IS NOT NULL AND appended THEN
    RAISE EXCEPTION 'journal transaction % is sealed: its postings were written before',
      bad_txn USING ERRCODE = 'insufficient_privilege';
  ELSIF bad_txn IS NOT NULL THEN
    RAISE EXCEPTION 'journal transaction % does not balance', bad_txn
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

# 0004's function, to go back to.
APPLY_REV = """
CREATE OR REPLACE FUNCTION accounts_posting_apply() RETURNS trigger AS $$
DECLARE
  bad_txn bigint;
  appended boolean;
BEGIN
  PERFORM 1 FROM accounts_ledgeraccount
    WHERE id IN (SELECT DISTINCT account_id FROM new_rows) ORDER BY id FOR UPDATE;
  UPDATE accounts_ledgeraccount a SET balance_fen = a.balance_fen + s.total
    FROM (SELECT account_id, sum(amount_fen) AS total FROM new_rows GROUP BY account_id) s
    WHERE a.id = s.account_id;
  SELECT t.transaction_id, t.n_all <> i.n_new INTO bad_txn, appended
    FROM (SELECT transaction_id, count(*) AS n_new FROM new_rows GROUP BY transaction_id) i
    JOIN (SELECT p.transaction_id, sum(p.amount_fen) AS total, count(*) AS n_all
            FROM accounts_posting p
           WHERE p.transaction_id IN (SELECT DISTINCT transaction_id FROM new_rows)
           GROUP BY p.transaction_id) t ON t.transaction_id = i.transaction_id
   WHERE t.n_all <> i.n_new OR t.total <> 0 OR t.n_all < 2
   ORDER BY 2 DESC, 1
   LIMIT 1;
  IF bad_txn IS NOT NULL AND appended THEN
    RAISE EXCEPTION 'journal transaction % is sealed: its postings were written before',
      bad_txn USING ERRCODE = 'insufficient_privilege';
  ELSIF bad_txn IS NOT NULL THEN
    RAISE EXCEPTION 'journal transaction % does not balance', bad_txn
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

DELTA_FWD = f"""
-- Only the posting trigger inserts deltas; nobody updates one; TRUNCATE
-- (which would drop money without folding it) only in a test database.
CREATE OR REPLACE FUNCTION accounts_balancedelta_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' AND pg_trigger_depth() > 1 THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'TRUNCATE' AND {TRUNCATE_ALLOWED_SQL} THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'accounts_balancedelta: balances move only by postings (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_balancedelta_guard BEFORE INSERT OR UPDATE ON accounts_balancedelta
  FOR EACH ROW EXECUTE FUNCTION accounts_balancedelta_guard();
CREATE TRIGGER accounts_balancedelta_no_truncate BEFORE TRUNCATE ON accounts_balancedelta
  FOR EACH STATEMENT EXECUTE FUNCTION accounts_balancedelta_guard();

-- Deleting deltas is the fold: what they moved goes onto the snapshot in the
-- same statement (accounts locked in id order), so the balance is unchanged.
CREATE OR REPLACE FUNCTION accounts_balancedelta_fold() RETURNS trigger AS $$
BEGIN
  PERFORM 1 FROM accounts_ledgeraccount
    WHERE id IN (SELECT DISTINCT account_id FROM old_rows) ORDER BY id FOR UPDATE;
  UPDATE accounts_ledgeraccount a SET balance_fen = a.balance_fen + s.total
    FROM (SELECT account_id, sum(amount_fen) AS total FROM old_rows GROUP BY account_id) s
    WHERE a.id = s.account_id;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_balancedelta_fold AFTER DELETE ON accounts_balancedelta
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION accounts_balancedelta_fold();
"""
DELTA_REV = """
DROP TRIGGER IF EXISTS accounts_balancedelta_fold ON accounts_balancedelta;
DROP TRIGGER IF EXISTS accounts_balancedelta_guard ON accounts_balancedelta;
DROP TRIGGER IF EXISTS accounts_balancedelta_no_truncate ON accounts_balancedelta;
DROP FUNCTION IF EXISTS accounts_balancedelta_fold();
DROP FUNCTION IF EXISTS accounts_balancedelta_guard();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in (DELTA_FWD, APPLY_FWD):
        schema_editor.execute(sql, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # Fold every pending delta first: the old trigger keeps whole balances on the rows.
    schema_editor.execute("DELETE FROM accounts_balancedelta", params=None)
    for sql in (APPLY_REV, DELTA_REV):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_ledger_guards"),
    ]

    operations = [
        migrations.CreateModel(
            name="BalanceDelta",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("amount_fen", models.BigIntegerField()),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.ledgeraccount",
                    ),
                ),
            ],
            options={
                "verbose_name": "pending balance change",
                "verbose_name_plural": "pending balance changes",
                "indexes": [models.Index(fields=["account"], name="accounts_delta_account")],
            },
        ),
        migrations.RunPython(forward, reverse),
    ]
