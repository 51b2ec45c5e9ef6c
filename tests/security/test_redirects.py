"""No `next` sends anyone off-site: admin, sign-in, the code step, sign-out
and the language switch (issue 15, finding 5)."""

from urllib.parse import quote

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.security import totp_code
from tests.conftest import PASSWORD

OFFSITE = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "///evil.example",
    "https:/evil.example",
    "\\\\evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "http://testserver@evil.example/",
    "data:text/html,<script>alert(1)</script>",
]


def _stays(location: str) -> bool:
    return location.startswith("/") and not location.startswith(("//", "/\\"))


@pytest.fixture(autouse=True)
def _no_otp_delay(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


@pytest.mark.parametrize("target", OFFSITE)
def test_admin_login_does_not_send_verified_staff_off_site(client_for, staff, target):
    client = client_for(staff)

    response = client.get("/admin/login/", {"next": target})

    assert response.status_code == 302
    assert response.url == "/admin/"


@pytest.mark.parametrize("target", OFFSITE)
def test_admin_login_keeps_the_admin_as_next_for_unverified_staff(client, staff, target):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)

    response = client.get("/admin/login/", {"next": target})

    assert response.url == f"/accounts/two-factor/?next={quote('/admin/', safe='')}"


def test_admin_login_still_follows_a_local_next(client_for, staff):
    response = client_for(staff).get("/admin/login/", {"next": "/admin/members/user/"})

    assert response.url == "/admin/members/user/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example"])
def test_admin_login_sends_anonymous_to_sign_in_with_a_local_next(client, db, target):
    response = client.get("/admin/login/", {"next": target})

    assert response.url == "/accounts/login/?next=/admin/"


@pytest.mark.parametrize("target", OFFSITE)
def test_code_step_does_not_send_staff_off_site(client, staff, target):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)

    form = client.get("/accounts/two-factor/", {"next": target})
    verified = client.post(
        "/accounts/two-factor/", {"otp_token": totp_code(device), "next": target}
    )
    again = client.get("/accounts/two-factor/", {"next": target})

    assert form.context["next"] == "/admin/"
    assert verified.status_code == 302 and verified.url == "/admin/"
    assert again.status_code == 302 and again.url == "/admin/"


@pytest.mark.parametrize("target", OFFSITE)
def test_sign_in_does_not_send_a_member_off_site(client, alice, target):
    response = client.post(
        "/accounts/login/", {"username": alice.id_number, "password": PASSWORD, "next": target}
    )

    assert response.status_code == 302
    assert _stays(response.url)
    assert response.url == "/"


@pytest.mark.parametrize("target", OFFSITE)
def test_signed_in_visit_to_sign_in_does_not_go_off_site(client_for, alice, target):
    response = client_for(alice).get("/accounts/login/", {"next": target})

    assert response.status_code == 302
    assert response.url == "/"


@pytest.mark.parametrize("target", OFFSITE)
def test_sign_out_does_not_go_off_site(client_for, alice, target):
    response = client_for(alice).post("/accounts/logout/", {"next": target})

    assert response.status_code == 302
    assert response.url == "/accounts/login/"


@pytest.mark.parametrize("target", OFFSITE)
def test_language_switch_does_not_go_off_site(client, db, target):
    response = client.post("/i18n/setlang/", {"language": "en", "next": target})

    assert response.status_code == 302
    assert _stays(response.url)
    assert response.url == "/"


def test_language_switch_follows_a_local_next(client, db):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/payments/calculator/"})

    assert response.url == "/payments/calculator/"
