"""Member read-only pages from a real streaming replica; access decisions and
a member's reads after their own write on the primary, even while the replica
lags (replay paused)."""

from __future__ import annotations

import re
import time

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from family.models import LinkStatus
from portal.replica import REPLICA
from tests.claims.conftest import fund
from tests.family.conftest import approved_link

from .replica import Replica, ReplicaUnavailable

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])

PRIMARY_ONLY = re.compile(r'"(members_|family_|django_session|audit_|auth|axes_|otp_)')


@pytest.fixture(scope="module")
def replica_server(django_db_setup, django_db_blocker):
    """The replica, and a ``replica`` database alias to it (a test "mirror" of
    the default database, so the test runner never flushes it)."""
    with django_db_blocker.unblock():
        server = Replica()
        try:
            server.start()
        except ReplicaUnavailable as exc:
            server.stop()
            pytest.skip(f"no streaming replica: {exc}")
        config = dict(connection.settings_dict)
        config.update(HOST="127.0.0.1", PORT=str(server.port))
        config["TEST"] = {**config.get("TEST", {}), "MIRROR": "default"}
        connections.settings[REPLICA] = config
    yield server
    with django_db_blocker.unblock():
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]
        server.stop()


@pytest.fixture
def replica(replica_server, private_media):
    yield connections[REPLICA]
    _resume(connections[REPLICA])


@pytest.fixture
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


def _caught_up(replica_conn, timeout=60):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        target = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with replica_conn.cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            if cursor.fetchone()[0]:
                return
        time.sleep(0.1)
    raise AssertionError("the replica did not catch up")


def _pause(replica_conn):
    with replica_conn.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")


def _resume(replica_conn):
    with replica_conn.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")


def _balance(response) -> str:
    m = re.search(r'data-testid="balance-current">([^<]+)<', response.content.decode())
    return m.group(1)


def _read_tables(queries) -> set[str]:
    return {
        t
        for q in queries
        for t in re.findall(r'FROM "?(\w+)"?', q["sql"])
        if q["sql"].lstrip().upper().startswith("SELECT")
    }


def test_member_pages_read_from_the_replica_and_access_from_the_primary(
    replica, alice, bob, staff, client_for, django_user_model
):
    # given
    fund(alice, current=12345)
    approved_link(alice, bob, staff, scope_balance=True, scope_records=True)
    _caught_up(replica)

    for path in ("/", "/dashboard/records/", "/dashboard/summary/"):
        with (
            CaptureQueriesContext(replica) as on_replica,
            CaptureQueriesContext(connection) as on_primary,
        ):
            response = client_for(alice).get(path)

        # then: the member's figures came from the replica ...
        assert response.status_code == 200, path
        assert len(on_replica) > 0, path
        assert not [q["sql"] for q in on_replica if PRIMARY_ONLY.search(q["sql"])], path
        # ... and who she is (session, user, person) from the primary
        assert any("members_" in q["sql"] for q in on_primary), path
    assert _balance(client_for(alice).get("/")) == "¥123.45"


def test_a_revoked_link_refuses_at_once_while_the_replica_lags(replica, alice, bob, staff, client):
    # given: bob may see alice's balance, and the replica has all of it
    fund(alice, current=10000)
    link = approved_link(alice, bob, staff, scope_balance=True, scope_records=True)
    _caught_up(replica)
    relative = client
    relative.force_login(bob.user)
    assert relative.get(f"/dashboard/{alice.pk}/").status_code == 200

    # when: the replica stops replaying, and alice ends the link on the primary
    _pause(replica)
    from django.test import Client

    member = Client()
    member.force_login(alice.user)
    fund(alice, current=5000)  # a credit the replica does not see yet
    before_her_write = member.get("/")
    ended = member.post(f"/family/links/{link.pk}/end/", {"confirm": "yes"})

    # then: the replica still holds the link as approved ...
    with replica.cursor() as cursor:
        cursor.execute("SELECT status FROM family_familylink WHERE id = %s", [link.pk])
        assert cursor.fetchone()[0] == LinkStatus.APPROVED
    link.refresh_from_db()
    assert ended.status_code == 302 and link.status != LinkStatus.APPROVED
    # ... but bob is refused from his very next request
    assert relative.get(f"/dashboard/{alice.pk}/").status_code == 404
    assert relative.get(f"/dashboard/records/?person={alice.pk}").status_code == 404
    # alice's page before her write was the replica's (lagging) view ...
    assert _balance(before_her_write) == "¥100.00"
    # ... and after her own write she reads the primary: her new credit shows
    with CaptureQueriesContext(replica) as on_replica:
        after_her_write = member.get("/")
    assert _balance(after_her_write) == "¥150.00"
    assert len(on_replica) == 0
