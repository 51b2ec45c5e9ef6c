"""``portal.prepared.prepared_cursor``: the hot statements PostgreSQL plans
once per connection, on the caller's connection and transaction, logged and
counted like every other query (issue 16)."""

import datetime as dt

import pytest
from django.db import connection, transaction

from portal.prepared import prepared_cursor

PROBE = "SELECT %s::int + 1 AS prepared_cursor_probe"


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _run(sql: str, times: int, params=(1,)) -> None:
    for _ in range(times):
        with prepared_cursor(connection) as cursor:
            cursor.execute(sql, list(params))
            assert cursor.fetchone() is not None


@pytest.mark.django_db
def test_a_statement_run_often_is_prepared_once_and_django_s_own_are_not(settings):
    settings.DATABASE_PREPARE_THRESHOLD = 5
    # when: below the threshold, then past it
    _run(PROBE, 5)
    assert not [s for s in _prepared() if "prepared_cursor_probe" in s]
    _run(PROBE, 3)

    # then: prepared, once, with its parameter bound on the server; the
    # ordinary cursors (client-side binding) prepared nothing
    probes = [s for s in _prepared() if "prepared_cursor_probe" in s]
    assert probes == ["SELECT $1::int + 1 AS prepared_cursor_probe"]
    for _ in range(10):
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::int AS plain_cursor_probe", [1])
    assert not [s for s in _prepared() if "plain_cursor_probe" in s]


@pytest.mark.django_db
def test_off_prepares_nothing_and_still_answers(settings):
    settings.DATABASE_PREPARE_THRESHOLD = None
    _run("SELECT %s::int + 2 AS never_prepared_probe", 20)
    assert not [s for s in _prepared() if "never_prepared_probe" in s]


@pytest.mark.django_db
def test_prepared_statements_are_counted_and_logged(django_assert_num_queries):
    with django_assert_num_queries(3) as captured:
        _run(PROBE, 3, params=(41,))
    assert all("prepared_cursor_probe" in q["sql"] for q in captured.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_it_is_the_callers_transaction():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE prepared_probe (n int)")
    # a write through it is seen by the ordinary cursor in the same
    # transaction, and undone with it
    with pytest.raises(RuntimeError), transaction.atomic():
        for n in range(8):  # past the threshold: the prepared INSERT too
            with prepared_cursor(connection) as cursor:
                cursor.execute("INSERT INTO prepared_probe (n) VALUES (%s)", [n])
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM prepared_probe")
            assert cursor.fetchone()[0] == 8
        raise RuntimeError("roll back")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM prepared_probe")
        assert cursor.fetchone()[0] == 0
        cursor.execute("DROP TABLE prepared_probe")


@pytest.mark.django_db
def test_timestamps_read_the_same_as_through_djangos_cursor():
    sql = "SELECT %s::timestamptz, %s::date"
    at = dt.datetime(2026, 11, 24, 23, 59, 30, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(sql, [at, at.date()])
        plain = cursor.fetchone()
    for _ in range(7):
        with prepared_cursor(connection) as cursor:
            cursor.execute(sql, [at, at.date()])
            assert cursor.fetchone() == plain
    assert plain[0].utcoffset() == dt.timedelta(0)


@pytest.mark.django_db
def test_a_database_error_is_djangos(settings):
    from django.db import DataError

    with pytest.raises(DataError), transaction.atomic(), prepared_cursor(connection) as cursor:
        cursor.execute("SELECT 1 / %s::int", [0])


@pytest.mark.parametrize(
    ("raw", "expected"), [("5", 5), (" 0 ", 0), ("OFF", None), ("none", None), (None, 7)]
)
def test_the_threshold_setting_reads_a_count_or_off(monkeypatch, raw, expected):
    from portal.env import env_threshold

    if raw is None:
        monkeypatch.delenv("PREPARE_PROBE", raising=False)
    else:
        monkeypatch.setenv("PREPARE_PROBE", raw)
    assert env_threshold("PREPARE_PROBE", 7) == expected


@pytest.mark.parametrize("raw", ["", "-1", "2.5", "many", "５"])
def test_a_bad_threshold_stops_the_start_naming_the_setting(monkeypatch, raw):
    from django.core.exceptions import ImproperlyConfigured

    from portal.env import env_threshold

    monkeypatch.setenv("PREPARE_PROBE", raw)
    with pytest.raises(ImproperlyConfigured, match="PREPARE_PROBE is a whole number"):
        env_threshold("PREPARE_PROBE", 5)


@pytest.mark.django_db
def test_a_statement_of_many_parameters_is_parsed_once():
    """psycopg keeps its parse of a statement's text (placeholders to $n)
    only up to a number of parameters; an expense's write carries more, so
    portal.prepared raises the bound. The second execute of the same text
    finds the first's parse."""
    from psycopg import _queries

    values = list(range(120))
    sql = "SELECT " + " + ".join(["%s::int"] * len(values))
    with prepared_cursor() as cursor:
        cursor.execute(sql, values)
        assert cursor.fetchone() == (sum(values),)
        before = _queries._query2pg.cache_info()
        cursor.execute(sql, values)
        after = _queries._query2pg.cache_info()
    assert after.hits == before.hits + 1, (before, after)
