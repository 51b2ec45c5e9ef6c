"""PostgreSQL helpers shared by migrations.

``append_only_sql(table)`` makes a table append-only in the database itself:
UPDATE and DELETE are refused for every role, so the rule holds for writes
that bypass the ORM. TRUNCATE is refused too, except in a test database: the
setting ``portal.allow_truncate`` is ``on`` AND the database's name starts with
``test_`` (pytest-django's test databases; the test runner empties tables
between transactional tests with TRUNCATE). Any session may SET the setting,
so the name is what keeps it from working on a production database. (A
superuser can switch any trigger off; these guards are against everyone else
and against mistakes.)
"""

from __future__ import annotations

# True only in a pytest-django test database whose session or database set the switch.
TRUNCATE_ALLOWED_SQL = (
    "current_setting('portal.allow_truncate', true) = 'on' "
    "AND left(current_database(), 5) = 'test_'"
)


def append_only_function_sql(table: str) -> str:
    """``CREATE OR REPLACE FUNCTION <table>_append_only()``: refuses every
    UPDATE, DELETE and TRUNCATE (see the module docstring for the exception)."""
    fn = f"{table}_append_only"
    return f"""
CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' AND {TRUNCATE_ALLOWED_SQL} THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '{table} is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def append_only_sql(table: str) -> tuple[str, str]:
    fn = f"{table}_append_only"
    forward = f"""{append_only_function_sql(table)}
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
