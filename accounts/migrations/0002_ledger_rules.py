"""The ledger's rules, enforced by the database (docs/adr/0001-ledger.md).

PostgreSQL:
- postings and journal transactions are append-only (no UPDATE/DELETE/TRUNCATE);
- after every INSERT statement into postings, the touched accounts are locked
  in id order, their cached balances move by the inserted sums (the CHECK
  constraint then refuses a member pocket below zero), and every transaction
  touched must balance (its postings sum to zero, at least two of them).
  A raw COPY of postings goes through the same trigger.
SQLite (the embedded demo default) gets row-level equivalents for the balance
and append-only rules; the service checks balance itself before inserting.
"""

from django.db import migrations

from portal.db import append_only_sql

POSTINGS_FWD, POSTINGS_REV = append_only_sql("accounts_posting")
TXN_FWD, TXN_REV = append_only_sql("accounts_journaltransaction")

APPLY_FWD = """
CREATE OR REPLACE FUNCTION accounts_posting_apply() RETURNS trigger AS $$
DECLARE
  unbalanced bigint;
BEGIN
  PERFORM 1 FROM accounts_ledgeraccount
    WHERE id IN (SELECT DISTINCT account_id FROM new_rows) ORDER BY id FOR UPDATE;
  UPDATE accounts_ledgeraccount a SET balance_fen = a.balance_fen + s.total
    FROM (SELECT account_id, sum(amount_fen) AS total FROM new_rows GROUP BY account_id) s
    WHERE a.id = s.account_id;
  SELECT p.transaction_id INTO unbalanced FROM accounts_posting p
    WHERE p.transaction_id IN (SELECT DISTINCT transaction_id FROM new_rows)
    GROUP BY p.transaction_id
    HAVING sum(p.amount_fen) <> 0 OR count(*) < 2
    LIMIT 1;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'journal transaction % does not balance', unbalanced
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_posting_apply AFTER INSERT ON accounts_posting
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION accounts_posting_apply();
"""
APPLY_REV = """
DROP TRIGGER IF EXISTS accounts_posting_apply ON accounts_posting;
DROP FUNCTION IF EXISTS accounts_posting_apply();
"""

SQLITE_FWD = [
    """CREATE TRIGGER accounts_posting_apply AFTER INSERT ON accounts_posting
       BEGIN UPDATE accounts_ledgeraccount SET balance_fen = balance_fen + NEW.amount_fen
       WHERE id = NEW.account_id; END""",
    """CREATE TRIGGER accounts_posting_no_update BEFORE UPDATE ON accounts_posting
       BEGIN SELECT RAISE(ABORT, 'accounts_posting is append-only'); END""",
    """CREATE TRIGGER accounts_posting_no_delete BEFORE DELETE ON accounts_posting
       BEGIN SELECT RAISE(ABORT, 'accounts_posting is append-only'); END""",
]
SQLITE_REV = [
    "DROP TRIGGER IF EXISTS accounts_posting_apply",
    "DROP TRIGGER IF EXISTS accounts_posting_no_update",
    "DROP TRIGGER IF EXISTS accounts_posting_no_delete",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in (APPLY_FWD, POSTINGS_FWD, TXN_FWD):
            schema_editor.execute(sql, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_FWD:
            schema_editor.execute(sql, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in (APPLY_REV, POSTINGS_REV, TXN_REV):
            schema_editor.execute(sql, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_REV:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(forward, reverse)]
