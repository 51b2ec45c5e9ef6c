"""PostgreSQL helpers shared by migrations.

``append_only_sql(table)`` makes a table append-only in the database itself:
UPDATE and DELETE are refused for every role, so the rule holds for writes
that bypass the ORM. TRUNCATE is refused too unless the database-level setting
``portal.allow_truncate`` is ``on``, which only the test database sets (the
test runner empties tables between browser tests with TRUNCATE).
"""

from __future__ import annotations


def append_only_sql(table: str) -> tuple[str, str]:
    fn = f"{table}_append_only"
    forward = f"""
CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' AND current_setting('portal.allow_truncate', true) = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '{table} is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {fn}();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
  FOR EACH STATEMENT EXECUTE FUNCTION {fn}();
"""
    reverse = f"""
DROP TRIGGER IF EXISTS {table}_no_update ON {table};
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
DROP FUNCTION IF EXISTS {fn}();
"""
    return forward, reverse


def run_on_postgresql(sql: str):
    """A RunPython callable that executes ``sql`` on PostgreSQL only (the
    embedded SQLite demo database has no such guard)."""

    def _run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return _run
