"""Sign-in throttling with django-axes: lockout per account and address."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)


def _login(client, login, password=PASSWORD):
    return client.post(reverse("login"), {"username": login, "password": password})


def _fail(client, login, times):
    return [_login(client, login, "wrong-password").status_code for _ in range(times)]


def test_lockout_after_the_limit_with_a_clear_message(client, alice):
    statuses = _fail(client, alice.id_number, LIMIT)

    assert statuses == [200, 200, 429]
    response = _login(client, alice.id_number, "wrong-password")
    assert response.status_code == 429
    html = response.content.decode()
    assert 'id="lockout-message"' in html
    assert "15" in html
    assert "_auth_user_id" not in client.session


def test_right_password_is_refused_while_locked(client, alice):
    _fail(client, alice.id_number, LIMIT)

    response = _login(client, alice.id_number)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_identity_number_phone_and_lowercase_count_as_one_account(client, db):
    from tests.conftest import make_member

    p = make_member("X", birth=dt.date(1949, 12, 31), seq=2, phone="13900000009")
    assert p.id_number.endswith("X")

    _login(client, p.id_number, "wrong")
    _login(client, f" {p.id_number.lower()} ", "wrong")
    third = _login(client, "13900000009", "wrong")

    assert third.status_code == 429
    assert AccessAttempt.objects.get().username == f"user:{p.user.pk}"
    assert _login(client, "13900000009").status_code == 429


def test_lockout_is_per_account_other_members_still_sign_in(client, alice, bob):
    _fail(client, alice.id_number, LIMIT)

    response = _login(client, bob.id_number)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(bob.user.pk)


def test_lockout_is_per_address(client, alice):
    _fail(client, alice.id_number, LIMIT)

    response = client.post(
        reverse("login"),
        {"username": alice.id_number, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.7",
    )

    assert response.status_code == 302


def test_unlock_after_the_cool_off(client, alice, settings):
    _fail(client, alice.id_number, LIMIT)
    assert _login(client, alice.id_number).status_code == 429

    # the cool-off passes: the recorded attempts are now older than it
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    response = _login(client, alice.id_number)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.user.pk)
    assert AccessAttempt.objects.count() == 0  # reset on success


def test_success_resets_the_failure_count(client, alice):
    _fail(client, alice.id_number, LIMIT - 1)
    assert _login(client, alice.id_number).status_code == 302
    client.logout()

    statuses = _fail(client, alice.id_number, LIMIT - 1)

    assert statuses == [200] * (LIMIT - 1)


def test_identity_number_is_not_stored_in_the_attempt_log(client, db):
    unknown = "11010519491231002X"
    _fail(client, unknown, 1)

    attempt = AccessAttempt.objects.get()
    assert unknown not in attempt.username
    assert unknown not in attempt.post_data
    assert "wrong-password" not in attempt.post_data


def test_token_api_says_locked_out_in_the_error_shape(alice):
    api = APIClient()
    body = {"username": alice.id_number, "password": "wrong"}
    statuses = [api.post("/api/v1/auth/token/", body, format="json").status_code for _ in range(3)]

    right = api.post(
        "/api/v1/auth/token/", {"username": alice.id_number, "password": PASSWORD}, format="json"
    )

    assert statuses == [400, 400, 429]
    assert right.status_code == 429
    error = right.json()["error"]
    assert error["code"] == "locked_out"
    assert error["retry_after_minutes"] == 15
    assert "15" in error["message"]
    assert "token" not in right.json()


def test_lockout_does_not_touch_force_login(client_for, alice, client):
    _fail(client, alice.id_number, LIMIT)

    assert client_for(alice).get(reverse("home")).status_code == 200
