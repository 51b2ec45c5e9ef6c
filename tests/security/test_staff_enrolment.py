"""Enrolling an authenticator app needs a one-time code an administrator
issued, not only the password (issue 15, finding 1)."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from members.models import StaffEnrolmentCode
from members.services import staff_enrolment_code_issue
from portal.security import totp_code

ENROLL = "/accounts/two-factor/enroll/"


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = "tests.security.urls"
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def _issue_by_command(username="staff") -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_enrolment_code", username, stdout=out, stderr=err)
    return out.getvalue().strip()


def _confirm(client):
    device = TOTPDevice.objects.get(user__username="staff", confirmed=False)
    return client.post(ENROLL, {"otp_token": totp_code(device), "next": "/staff/test-page/"})


def test_the_password_alone_cannot_enrol(client, staff):
    client.force_login(staff)

    page = client.get(ENROLL)
    # someone holding the password tries to skip the code step
    forced = client.post(ENROLL, {"otp_token": "123456"})
    guessed = client.post(ENROLL, {"enrolment_code": "ABCD-EFGH-JKMN-PQRS-TUVW"})

    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="enrolment_code"' in html
    assert "segno" not in html and "otp-secret" not in html
    assert forced.status_code == 200 and "segno" not in forced.content.decode()
    assert "enrolment_code" in guessed.context["form"].errors
    assert TOTPDevice.objects.count() == 0
    assert client.get("/staff/test-page/").url.startswith(ENROLL)
    refused = AuditEvent.objects.get(action="security.enrolment_code_refused")
    assert refused.actor_id == staff.pk


def test_a_valid_code_enrols_once(client, staff):
    shown = _issue_by_command()
    client.force_login(staff)

    step = client.post(ENROLL, {"enrolment_code": shown.lower().replace("-", " ")})
    qr = client.get(step.url)
    done = _confirm(client)

    assert step.status_code == 302
    assert "segno" in qr.content.decode()
    assert done.status_code == 302 and done.url == "/staff/test-page/"
    assert TOTPDevice.objects.get(user=staff).confirmed is True
    assert client.get("/staff/test-page/").status_code == 200
    code = StaffEnrolmentCode.objects.get()
    assert code.used_at is not None
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "security.enrolment_code_issued",
        "security.enrolment_code_used",
        "security.otp_enrolled",
    ]
    issued = AuditEvent.objects.get(action="security.enrolment_code_issued")
    assert issued.object_id == str(code.pk) and issued.detail["user"] == staff.pk
    assert shown.replace("-", "") not in str(list(StaffEnrolmentCode.objects.values()))

    # the device is lost and removed; the old code does not enrol a new one
    TOTPDevice.objects.all().delete()
    client.logout()
    client.force_login(staff)
    again = client.post(ENROLL, {"enrolment_code": shown})

    assert "enrolment_code" in again.context["form"].errors
    assert TOTPDevice.objects.count() == 0


def test_an_expired_code_is_refused(client, staff):
    shown = _issue_by_command()
    StaffEnrolmentCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    client.force_login(staff)

    response = client.post(ENROLL, {"enrolment_code": shown})

    assert response.status_code == 200
    assert "enrolment_code" in response.context["form"].errors
    assert TOTPDevice.objects.count() == 0
    assert StaffEnrolmentCode.objects.get().used_at is None


def test_codes_expire_after_the_setting(staff, settings):
    settings.STAFF_ENROLMENT_CODE_SECONDS = 3600

    code, _ = staff_enrolment_code_issue(user=staff)

    assert code.expires_at == code.created_at + dt.timedelta(seconds=3600)


def test_a_new_code_replaces_the_unused_one(client, staff):
    first = _issue_by_command()
    second = _issue_by_command()
    client.force_login(staff)

    refused = client.post(ENROLL, {"enrolment_code": first})
    accepted = client.post(ENROLL, {"enrolment_code": second})

    assert "enrolment_code" in refused.context["form"].errors
    assert accepted.status_code == 302


def test_a_code_is_bound_to_its_staff_member(client, staff, django_user_model):
    other = django_user_model.objects.create_user("other-staff", password="x", is_staff=True)
    shown = _issue_by_command("other-staff")
    client.force_login(staff)

    response = client.post(ENROLL, {"enrolment_code": shown})

    assert "enrolment_code" in response.context["form"].errors
    assert StaffEnrolmentCode.objects.get(user=other).used_at is None


def test_the_qr_step_ends_when_the_code_would_have_expired(client, staff):
    shown = _issue_by_command()
    client.force_login(staff)
    client.post(ENROLL, {"enrolment_code": shown})
    session = client.session
    session["_otp_enrol_grant"]["until"] = 0
    session.save()

    page = client.get(ENROLL)

    assert 'name="enrolment_code"' in page.content.decode()


def test_too_many_wrong_codes_wait(client, staff):
    shown = _issue_by_command()
    client.force_login(staff)
    for _ in range(5):
        client.post(ENROLL, {"enrolment_code": "WRONG"})

    response = client.post(ENROLL, {"enrolment_code": shown})

    assert response.status_code == 429
    assert StaffEnrolmentCode.objects.get().used_at is None


def test_the_command_refuses_members_and_unknown_users(alice):
    with pytest.raises(CommandError):
        _issue_by_command(alice.user.username)
    with pytest.raises(CommandError):
        _issue_by_command("nobody")
    assert StaffEnrolmentCode.objects.count() == 0


def test_the_admin_action_shows_the_code_once(client_for, staff, django_user_model):
    staff.is_superuser = True
    staff.save()
    newcomer = django_user_model.objects.create_user("newcomer", password="x", is_staff=True)
    admin = client_for(staff)

    response = admin.post(
        "/admin/members/user/",
        {"action": "issue_enrolment_codes", "_selected_action": [newcomer.pk]},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    shown = html.split('data-testid="enrolment-code">')[1].split("<")[0]
    code = StaffEnrolmentCode.objects.get(user=newcomer)
    event = AuditEvent.objects.get(action="security.enrolment_code_issued")
    assert event.actor_id == staff.pk and event.object_id == str(code.pk)
    # it works for the newcomer
    admin.logout()
    admin.force_login(newcomer)
    assert admin.post(ENROLL, {"enrolment_code": shown}).status_code == 302
