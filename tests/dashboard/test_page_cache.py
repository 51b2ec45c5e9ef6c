"""The member pages' cached block (dashboard.pagecache, docs/adr/0006): a hit
costs one query and is never stale, whoever changed the data and however
(raw SQL and set-based imports included); the full identity number is never
cached; the version adds no lock to any writer."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg
import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import RequestFactory

from dashboard import pagecache
from dashboard.services import compact_read_versions
from tests.conftest import make_member
from tests.dashboard.helpers import contribution, credit, link

pytestmark = pytest.mark.django_db


def _page(client, path="/"):
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, path
    return response.content.decode()


def _version(person) -> int:
    return pagecache.read_version(connection, person.pk)


def test_a_second_view_is_one_query_and_the_same_page(alice, client_for, django_assert_num_queries):
    credit(alice, current_fen=12345, prior_fen=500)
    contribution(alice, dt.date(2025, 11, 1))
    client = client_for(alice)
    for path in ("/", "/dashboard/records/"):
        first = _page(client, path)
        with django_assert_num_queries(1):  # the read version; the block from the cache
            again = _page(client, path)
        # the same block (the CSRF tokens around it are masked anew each time)
        assert _main(again) == _main(first)


def _main(page: str) -> str:
    return page[page.index("<main") : page.index("</main>")]


def test_a_credit_written_by_the_ledger_shows_at_once(alice, client_for):
    client = client_for(alice)
    credit(alice, current_fen=10000, key="one")
    assert "¥100.00" in _page(client)
    credit(alice, current_fen=2500, key="two")
    assert "¥125.00" in _page(client)


def test_an_imported_contribution_shows_at_once(alice, client_for):
    client = client_for(alice)
    contribution(alice, dt.date(2025, 10, 1))
    assert "2025-11" not in _page(client, "/dashboard/records/")
    contribution(alice, dt.date(2025, 11, 1))  # the set-based import (COPY, one statement per step)
    assert "2025-11" in _page(client, "/dashboard/records/")


def test_a_rename_by_raw_sql_shows_on_a_relatives_home(alice, bob, client_for):
    link(alice, bob, relationship="spouse")
    client = client_for(bob)
    assert "Alice" in _page(client)
    with connection.cursor() as cur:  # no model, no signal: only the trigger sees it
        cur.execute("UPDATE members_insuredperson SET name = 'Alicia' WHERE id = %s", [alice.pk])
    page = _page(client)
    assert "Alicia" in page


def test_an_ended_link_leaves_the_relatives_pages(alice, bob, client_for):
    grant = link(alice, bob, relationship="spouse")
    client = client_for(bob)
    assert 'data-testid="granted-card"' in _page(client)
    assert _page(client, f"/dashboard/{alice.pk}/")
    with connection.cursor() as cur:
        cur.execute("UPDATE family_familylink SET status = 'ended' WHERE id = %s", [grant.pk])
    assert 'data-testid="granted-card"' not in _page(client)
    assert client.get(f"/dashboard/{alice.pk}/").status_code == 404


def test_the_full_identity_number_is_never_cached(alice, client_for):
    page = _page(client_for(alice))
    assert alice.id_number in page  # shown to its owner...
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=cache.make_key("page:*"), count=1000))
    assert keys
    stored = b"".join(client.get(k) or b"" for k in keys)
    assert alice.id_number.encode() not in stored  # ...but filled in per request
    assert pagecache.ID_NUMBER_SLOT.encode() in stored


def test_each_viewer_and_language_has_its_own_block(alice, bob, client_for):
    link(alice, bob, relationship="spouse")
    own = _page(client_for(alice), f"/dashboard/records/?person={alice.pk}")
    assert 'data-testid="viewing-relative"' not in own
    relative = _page(client_for(bob), f"/dashboard/records/?person={alice.pk}")
    assert 'data-testid="viewing-relative"' in relative
    zh = client_for(alice).get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "缴费" in zh or "账户" in zh


def test_a_block_reading_an_unwatched_table_is_refused():
    request = RequestFactory().get("/")
    request.user = type("U", (), {"pk": None})()
    request.session = {}

    def build():
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM payments_policyyear")
        return "<p>x</p>"

    with pytest.raises(ImproperlyConfigured, match="payments_policyyear"):
        pagecache.content_block(request, page="t", subject_id=-1, build=build)


def test_every_watched_table_has_its_three_triggers():
    from importlib import import_module

    watched = import_module("dashboard.migrations.0004_read_versions").WATCHED
    assert pagecache.watched_tables(connection) == set(watched)


def test_an_insert_an_update_and_a_delete_each_move_the_version(alice):
    """By raw SQL on a table shown on everyone's pages (person 0), then by
    the ledger on the member's own pocket; a statement that changes no row
    moves nothing."""
    seen = [_version(alice)]
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO claims_institution (name, kind, region, active, created_at)"
            " VALUES ('Z', 'hospital', '110100', true, now()) RETURNING id"
        )
        inst = cur.fetchone()[0]
        seen.append(_version(alice))
        cur.execute("UPDATE claims_institution SET name = 'Z2' WHERE id = %s", [inst])
        seen.append(_version(alice))
        cur.execute("DELETE FROM claims_institution WHERE id = %s", [inst])
        seen.append(_version(alice))
        cur.execute("UPDATE claims_institution SET name = name WHERE id = %s", [inst])
        seen.append(_version(alice))  # no row: no change
    credit(alice, current_fen=100)
    seen.append(_version(alice))
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen) - 1  # all but the statement that changed nothing
    assert seen[4] == seen[3]


def test_compacting_keeps_every_version(alice, bob):
    for key in ("a", "b", "c"):
        credit(alice, current_fen=100, key=key)
    credit(bob, current_fen=100)
    versions = (_version(alice), _version(bob))
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM dashboard_readbump WHERE person_id = %s", [alice.pk])
        assert cur.fetchone()[0] > 1
    assert compact_read_versions(batch=1) >= 2  # batch of one: the cursor moves on
    assert (_version(alice), _version(bob)) == versions
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM dashboard_readbump WHERE person_id IN (%s, %s)",
            [alice.pk, bob.pk],
        )
        assert cur.fetchone()[0] == 2
    assert compact_read_versions() == 0  # again: nothing to fold


@pytest.mark.django_db(transaction=True)
def test_two_writers_bumping_the_same_version_never_wait_for_each_other():
    """Each version row is appended, never updated: a second transaction
    changing everyone's pages (person 0) commits while the first is still
    open. With one counter row per person it would wait for the first."""
    make_member("Ina", seq=61)  # two institutions' renames both bump person 0
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO claims_institution (name, kind, region, active, created_at) VALUES"
            " ('A', 'hospital', '110100', true, now()), ('B', 'hospital', '110100', true, now())"
            " RETURNING id"
        )
        a, b = (row[0] for row in cur.fetchall())
    dsn = connection.get_connection_params()
    dsn.pop("cursor_factory", None)
    dsn.pop("context", None)
    first = psycopg.connect(**dsn)
    try:
        first.execute("UPDATE claims_institution SET name = 'A2' WHERE id = %s", [a])
        done = threading.Event()

        def second():
            with psycopg.connect(**dsn, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '5s'")
                conn.execute("UPDATE claims_institution SET name = 'B2' WHERE id = %s", [b])
            done.set()

        worker = threading.Thread(target=second)
        worker.start()
        worker.join(timeout=10)
        assert done.is_set(), "the second writer waited for the first"
        first.commit()
    finally:
        first.close()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM dashboard_readbump WHERE person_id = 0")
        assert cur.fetchone()[0] >= 2


def test_two_databases_sharing_one_redis_never_share_a_block(alice, client_for, monkeypatch):
    """Staging beside production on one Redis: the same person id and read
    version in another database is another block."""
    client = client_for(alice)
    _page(client)
    built = []
    real = pagecache.content_block

    def spy(request, *, build, **kwargs):
        def counted():
            built.append(1)
            return build()

        return real(request, build=counted, **kwargs)

    monkeypatch.setattr(pagecache, "content_block", spy)
    _page(client)
    assert built == []  # the same database: from the cache
    monkeypatch.setattr(pagecache, "_database", lambda: "elsewhere:5432/portal")
    _page(client)
    assert built == [1]  # another database: rendered anew


@pytest.mark.django_db(transaction=True)
def test_a_row_appended_while_folding_is_kept():
    """A writer's bump still uncommitted while the fold runs is not folded
    away: once it commits, the version counts it."""
    ina = make_member("Ina", seq=63)
    for key in ("a", "b"):
        credit(ina, current_fen=100, key=key)
    before = _version(ina)
    dsn = connection.get_connection_params()
    dsn.pop("cursor_factory", None)
    dsn.pop("context", None)
    with psycopg.connect(**dsn) as writer:
        writer.execute(
            "INSERT INTO dashboard_readbump (person_id, weight) VALUES (%s, 1)", [ina.pk]
        )
        assert compact_read_versions() >= 1  # folds the committed rows meanwhile
        assert _version(ina) == before
        writer.commit()
    assert _version(ina) == before + 1
    compact_read_versions()
    assert _version(ina) == before + 1
