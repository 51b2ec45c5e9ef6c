"""Staff pages need is_staff AND a verified TOTP code (django-otp)."""

import time
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from members.services import member_token_create
from portal.security import totp_code

ENROLL = "/accounts/two-factor/enroll/"
VERIFY = "/accounts/two-factor/"


@pytest.fixture(autouse=True)
def _urls_and_no_throttle_delay(settings):
    settings.ROOT_URLCONF = "tests.security.urls"
    # A wrong code delays the next try by factor * 2^(n-1) seconds; no sleeps here.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


@pytest.fixture
def device(staff):
    return TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get("/staff/test-page/")

    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/staff/test-page/"


def test_a_member_gets_403_on_staff_pages(client, alice):
    client.force_login(alice.user)

    assert client.get("/staff/test-page/").status_code == 403
    assert client.get("/staff/test-class-page/").status_code == 403
    assert client.get("/admin/").status_code in (302, 403)
    assert client.get("/admin/", follow=True).status_code == 403


def test_staff_with_a_password_only_is_sent_to_enter_a_code(client, staff, device):
    client.force_login(staff)

    page = client.get("/staff/test-page/")
    klass = client.get("/staff/test-class-page/")

    assert page.status_code == 302
    assert page.url == f"{VERIFY}?next={quote('/staff/test-page/', safe='')}"
    assert klass.url == f"{VERIFY}?next={quote('/staff/test-class-page/', safe='')}"


def test_wrong_code_is_refused_right_code_opens_staff_pages(client, staff, device):
    client.force_login(staff)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"

    refused = client.post(VERIFY, {"otp_token": wrong, "next": "/staff/test-page/"})

    assert refused.status_code == 200
    assert "otp_token" in refused.context["form"].errors
    assert client.get("/staff/test-page/").status_code == 302

    accepted = client.post(VERIFY, {"otp_token": totp_code(device), "next": "/staff/test-page/"})

    assert accepted.status_code == 302
    assert accepted.url == "/staff/test-page/"
    assert client.get("/staff/test-page/").content == b"staff page"
    assert client.get("/staff/test-class-page/").content == b"staff class page"


def test_a_code_cannot_be_used_twice(client, staff, device):
    code = totp_code(device)
    client.force_login(staff)
    assert client.post(VERIFY, {"otp_token": code}).status_code == 302
    client.logout()

    client.force_login(staff)
    replay = client.post(VERIFY, {"otp_token": code})

    assert replay.status_code == 200
    assert client.get("/staff/test-page/").status_code == 302


def test_admin_needs_the_code_too(client, staff, device):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)

    before = client.get("/admin/", follow=True)

    assert before.redirect_chain[-1][0] == f"{VERIFY}?next={quote('/admin/', safe='')}"
    client.post(VERIFY, {"otp_token": totp_code(device)})
    assert client.get("/admin/").status_code == 200


def test_admin_login_page_sends_anonymous_to_the_portal_sign_in(client, db):
    response = client.get("/admin/", follow=True)

    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")


def _enter_enrolment_code(client, staff):
    from members.services import staff_enrolment_code_issue

    _code, shown = staff_enrolment_code_issue(user=staff)
    return client.post(ENROLL, {"enrolment_code": shown, "next": "/staff/test-page/"})


def test_staff_without_a_device_enrols_with_a_server_side_qr_code(client, staff):
    client.force_login(staff)

    to_enrol = client.get("/staff/test-page/")
    assert to_enrol.url == f"{ENROLL}?next={quote('/staff/test-page/', safe='')}"
    assert _enter_enrolment_code(client, staff).url == to_enrol.url
    page = client.get(to_enrol.url)
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=staff)

    assert page.status_code == 200
    assert '<svg width="' in html and 'class="segno"' in html
    assert "<script" not in html.split("</header>")[1]
    assert device.confirmed is False
    # the key shown for typing in equals the device key
    import base64

    shown = page.context["secret_groups"].replace(" ", "")
    assert base64.b32decode(shown) == device.bin_key

    done = client.post(ENROLL, {"otp_token": totp_code(device), "next": "/staff/test-page/"})

    assert done.status_code == 302
    assert done.url == "/staff/test-page/"
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.get("/staff/test-page/").status_code == 200


def test_enrolment_with_a_wrong_code_does_not_confirm(client, staff):
    client.force_login(staff)
    _enter_enrolment_code(client, staff)
    device = TOTPDevice.objects.get(user=staff)
    wrong = f"{(int(totp_code(device)) + 5) % 1_000_000:06d}"

    response = client.post(ENROLL, {"otp_token": wrong})

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is False
    assert client.get("/staff/test-page/").status_code == 302


def test_unconfirmed_device_does_not_count_as_enrolled(client, staff):
    TOTPDevice.objects.create(user=staff, name="half", confirmed=False)
    client.force_login(staff)

    assert client.get("/staff/test-page/").url.startswith(ENROLL)
    assert client.get(VERIFY).url.startswith(ENROLL)


def test_a_member_cannot_enrol_or_verify(client, alice):
    client.force_login(alice.user)

    assert client.get(ENROLL).status_code == 403
    assert client.get(VERIFY).status_code == 403
    assert TOTPDevice.objects.count() == 0


def test_verify_refuses_an_offsite_next(client, staff, device):
    client.force_login(staff)

    response = client.post(VERIFY, {"otp_token": totp_code(device), "next": "https://evil.test/"})

    assert response.url == "/admin/"


def test_codes_from_the_previous_step_are_still_accepted(client, staff, device):
    client.force_login(staff)

    response = client.post(VERIFY, {"otp_token": totp_code(device, at=time.time() - 30)})

    assert response.status_code == 302


def test_staff_api_needs_a_verified_session_not_a_token(staff, device, client):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {member_token_create(user=staff)[1]}")

    by_token = api.get("/api/v1/staff/test/")
    client.force_login(staff)
    unverified = client.get("/api/v1/staff/test/")
    client.post(VERIFY, {"otp_token": totp_code(device)})
    verified = client.get("/api/v1/staff/test/")

    assert by_token.status_code == 403
    assert by_token.json()["error"]["code"] == "permission_denied"
    assert unverified.status_code == 403
    assert verified.status_code == 200


def test_client_for_staff_is_past_the_code_step(client_for, staff):
    assert client_for(staff).get("/staff/test-page/").status_code == 200


def test_demo_staff_codes_come_from_demo_totp(client, db, capsys):
    from members.models import User

    call_command("seed_demo")
    call_command("demo_totp", "staff")
    code = capsys.readouterr().out.strip().splitlines()[-1]
    staff = User.objects.get(username="staff")
    client.force_login(staff)

    response = client.post(VERIFY, {"otp_token": code, "next": "/staff/test-page/"})

    assert len(code) == 6 and code.isdigit()
    assert response.status_code == 302
    assert client.get("/staff/test-page/").status_code == 200


def test_demo_totp_refuses_real_devices(staff, device):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("demo_totp", "staff")


def test_staff_token_or_unverified_session_does_not_open_member_records(staff, alice, client):
    from access.rules import Scope
    from tests.conftest import can_view

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {member_token_create(user=staff)[1]}")
    client.force_login(staff)
    request_user = client.get("/accounts/login/").wsgi_request.user

    by_token = api.get(f"/api/v1/accounts/{alice.pk}/balance/")
    by_session = client.get(f"/api/v1/accounts/{alice.pk}/balance/")

    assert by_token.status_code == 404
    assert by_session.status_code == 404
    assert can_view(staff, alice, Scope.BALANCE) is False
    assert request_user.is_verified() is False


def test_verified_staff_session_opens_member_records(client_for, staff, alice):
    response = client_for(staff).get(f"/api/v1/accounts/{alice.pk}/balance/")

    assert response.status_code == 200
