"""Statements PostgreSQL parses and plans once per connection (issue 16).

Django's PostgreSQL cursors bind parameters on the client: every statement
reaches PostgreSQL as new text, to be parsed and planned again, and psycopg
never prepares it. On the hottest paths (an expense submission runs about
ten short statements) that planning was a third of PostgreSQL's work.
``prepared_cursor`` gives a Django cursor (the same connection and
transaction, the same query logging and metrics wrappers) whose parameters
are bound on the server, so psycopg prepares a statement once it has run a
few times on the connection (``DATABASE_PREPARE_THRESHOLD``, default 5) and
runs it as prepared from then on. Only the statements written for it use it:
a parameter must have one type wherever it appears (cast it otherwise,
``%s::text``), which Django's own queries do not promise. With a pooler in
transaction mode that cannot keep prepared statements (PgBouncer before
1.21, or without ``max_prepared_statements``), set
``DATABASE_PREPARE_THRESHOLD`` to ``off``: the cursor still binds on the
server, and prepares nothing. A migration needs nothing more: PostgreSQL
plans a prepared statement again after a change to a table it reads, and
these statements name their columns (never ``SELECT *``), so their result
keeps its shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db import connection as default_connection

# psycopg turns a statement's text into PostgreSQL's ($1, $2, ...) on every
# execute, and keeps what it made only for statements of at most 50
# parameters (``psycopg._queries.MAX_CACHED_STATEMENT_PARAMS``, against ORM
# INSERTs of ever other sizes). An expense's one write carries 60 to 120, from
# a few fixed texts: parsing it again was a twentieth of a submission's CPU
# under load. Keep those too; ``tests/portal/test_prepared.py`` notices when
# a psycopg release moves the bound.
KEEP_PARSED_PARAMS = 400


def _keep_parsed_statements() -> None:
    try:
        from psycopg import _queries
    except ImportError:  # not PostgreSQL's driver: nothing to keep
        return
    if getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", KEEP_PARSED_PARAMS) < KEEP_PARSED_PARAMS:
        _queries.MAX_CACHED_STATEMENT_PARAMS = KEEP_PARSED_PARAMS


_keep_parsed_statements()


@contextmanager
def prepared_cursor(connection=None) -> Iterator:
    """A cursor on ``connection`` (default: the default database) that binds
    parameters on the server and lets psycopg prepare what runs often; a
    plain cursor where that is not PostgreSQL (the SQLite demo)."""
    if connection is None or connection is default_connection:
        # The wrapper itself: each attribute of ``django.db.connection``
        # is looked up again through the thread's connections otherwise.
        connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import (
        TIMESTAMPTZ_OID,
        Format,
        ServerBindingCursor,
        register_tzloader,
    )

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    pg = connection.connection
    threshold = settings.DATABASE_PREPARE_THRESHOLD
    if pg.prepare_threshold != threshold:
        # Django leaves it off; its own cursors bind on the client and
        # never prepare, so this reaches only the cursors made here.
        pg.prepare_threshold = threshold
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(pg)
        # As Django's own cursors do (create_cursor): read timestamps in the
        # connection's time zone.
        if connection.timezone != pg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT).timezone:
            register_tzloader(connection.timezone, raw)
        cursor = connection._prepare_cursor(raw)
    with cursor:
        yield cursor
