"""Sign-in from a server whose ``REMOTE_ADDR`` is not an IP address (a Unix
socket's name) or carries an IPv6 zone: a wrong password is refused and a
right one signs in, never a 500 (django-axes and the per-address limit keep
addresses too)."""

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ODD = ["unix:/run/portal.sock", "fe80::1%eth0", "not an address"]


@pytest.mark.parametrize("address", ODD)
def test_sign_in_from_an_odd_remote_address(client, alice, address):
    wrong = client.post(
        "/accounts/login/",
        {"username": alice.id_number, "password": "wrong"},
        REMOTE_ADDR=address,
    )
    right = client.post(
        "/accounts/login/",
        {"username": alice.id_number, "password": PASSWORD},
        REMOTE_ADDR=address,
    )

    assert wrong.status_code == 200  # the form again, with its error
    assert right.status_code == 302
