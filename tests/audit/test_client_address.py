"""The client's address an access is recorded with: whatever the server put
in ``REMOTE_ADDR`` (a Unix socket's name, an address with an IPv6 zone,
nothing), the view answers and the access is recorded; the address is kept
only when the database's ``inet`` column can hold it."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from tests.family.conftest import approved_link

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("remote_addr", "recorded"),
    [
        ("198.51.100.23", "198.51.100.23"),
        ("2001:db8::7", "2001:db8::7"),
        ("fe80::1%eth0", "fe80::1"),
        ("unix:/run/portal.sock", None),
        ("999.1.1.1", None),
        ("not an address", None),
        ("", None),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/accounts/{pk}/balance/", "/dashboard/{pk}/"])
def test_a_relatives_view_is_recorded_whatever_the_remote_address(
    alice, bob, staff, path, remote_addr, recorded
):
    approved_link(alice, bob, staff, scope_records=True)
    client = Client(REMOTE_ADDR=remote_addr)
    client.force_login(bob.user)

    response = client.get(path.format(pk=alice.pk))

    assert response.status_code == 200
    events = AuditEvent.objects.filter(subject_person=alice, action__startswith="person.")
    assert events.exists()
    assert {e.ip_address for e in events} == {recorded}


@pytest.mark.parametrize("remote_addr", ["unix:/run/portal.sock", "fe80::1%eth0"])
def test_a_staff_view_is_recorded_whatever_the_remote_address(
    alice, staff, client_for, remote_addr
):
    """Staff's views are recorded through ``audit_record`` (the ORM's
    field), not the link look-up's statement: the same address rules."""
    client = client_for(staff)

    response = client.get(f"/api/v1/accounts/{alice.pk}/balance/", REMOTE_ADDR=remote_addr)

    assert response.status_code == 200
    event = AuditEvent.objects.filter(subject_person=alice, actor=staff).latest("id")
    assert event.ip_address == ("fe80::1" if "%" in remote_addr else None)
