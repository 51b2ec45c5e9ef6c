"""Tighter database guards for the ledger (docs/adr/0001-ledger.md), PostgreSQL:

- a journal transaction's postings are sealed: the statement-level posting
  trigger refuses a transaction that already had postings before the
  statement (balanced postings can no longer be appended to an old one);
- a ledger account's cached ``balance_fen`` moves only through that trigger:
  an UPDATE of an account row is refused unless it comes from inside a
  trigger (``pg_trigger_depth() > 1``) and changes nothing but the balance,
  and a new account starts at zero;
- rollover records are append-only;
- the test-only TRUNCATE switch works only in a database named ``test_...``
  (every append-only function made by ``portal.db.append_only_sql`` is
  brought up to date, whichever app's table it guards).
The embedded SQLite demo keeps its row-level triggers (0002).
"""

from django.db import migrations

from portal.db import append_only_function_sql, append_only_sql

APPLY_FWD = """
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
# 0002's function, to go back to.
APPLY_REV = """
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
"""

BALANCE_GUARD_FWD = """
CREATE OR REPLACE FUNCTION accounts_ledgeraccount_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.balance_fen <> 0 THEN
      RAISE EXCEPTION 'a ledger account starts at zero; balances move only by postings'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  -- UPDATE: only the posting trigger (depth 1) moves a balance, and nothing else changes.
  IF pg_trigger_depth() > 1
     AND (NEW.id, NEW.code, NEW.kind, NEW.person_id, NEW.institution_id)
         IS NOT DISTINCT FROM (OLD.id, OLD.code, OLD.kind, OLD.person_id, OLD.institution_id)
  THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'ledger account % : balances move only by postings (UPDATE refused)', OLD.id
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_ledgeraccount_guard BEFORE INSERT OR UPDATE ON accounts_ledgeraccount
  FOR EACH ROW EXECUTE FUNCTION accounts_ledgeraccount_guard();
"""
BALANCE_GUARD_REV = """
DROP TRIGGER IF EXISTS accounts_ledgeraccount_guard ON accounts_ledgeraccount;
DROP FUNCTION IF EXISTS accounts_ledgeraccount_guard();
"""

ROLLOVER_FWD, ROLLOVER_REV = append_only_sql("accounts_rollover")

# Tables guarded by portal.db.append_only_sql, whatever app made them.
_GUARDED = """
SELECT DISTINCT c.relname FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_proc f ON f.oid = t.tgfoid
 WHERE t.tgname = c.relname || '_no_truncate' AND f.proname = c.relname || '_append_only'
 ORDER BY 1
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in (APPLY_FWD, BALANCE_GUARD_FWD, ROLLOVER_FWD):
        schema_editor.execute(sql, params=None)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_GUARDED)
        tables = [row[0] for row in cursor.fetchall()]
    for table in tables:
        schema_editor.execute(append_only_function_sql(table), params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in (APPLY_REV, BALANCE_GUARD_REV, ROLLOVER_REV):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_value_date_and_rollover_markers")]
    operations = [migrations.RunPython(forward, reverse)]
