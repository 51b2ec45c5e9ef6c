"""Password spraying: one wrong guess at each of many accounts from one
address. django-axes locks per account and address, so it never fires; the
per-address limit across accounts does (issue 15, finding 8)."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from members.models import User
from portal.security import address_lockout_message
from portal.throttles import KEY_PREFIX
from tests.conftest import PASSWORD, make_member

LIMIT = 20
ACCOUNTS = 35
SPRAYER = "203.0.113.7"
NEIGHBOUR = "198.51.100.9"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.SIGNIN_ADDRESS_FAILURE_LIMIT = LIMIT
    settings.SIGNIN_ADDRESS_COOLOFF_MINUTES = 15
    settings.AXES_FAILURE_LIMIT = 5


@pytest.fixture
def accounts(db):
    return [
        make_member(f"Member {i}", birth=dt.date(1970, 1, 1) + dt.timedelta(days=i), seq=21 + i)
        for i in range(ACCOUNTS)
    ]


def _sign_in(client, login, password, address=SPRAYER):
    return client.post(
        "/accounts/login/", {"username": login, "password": password}, REMOTE_ADDR=address
    )


def _message() -> str:
    with translation.override("zh-hans"):
        return address_lockout_message()


def test_spraying_many_accounts_from_one_address_is_blocked_after_the_limit(client, accounts):
    statuses = [_sign_in(client, p.id_number, "Summer2026!").status_code for p in accounts]

    assert statuses == [200] * LIMIT + [429] * (ACCOUNTS - LIMIT)
    blocked = _sign_in(client, accounts[0].id_number, "Summer2026!")
    html = blocked.content.decode()
    assert blocked.status_code == 429
    assert 'id="lockout-message"' in html
    assert _message() in html
    assert "15" in _message()


def test_the_right_password_from_the_blocked_address_is_refused(client, accounts):
    for person in accounts[:LIMIT]:
        _sign_in(client, person.id_number, "Summer2026!")
    victim = accounts[-1]  # never guessed, so django-axes has nothing on it

    response = _sign_in(client, victim.id_number, PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert User.objects.get(pk=victim.user.pk).last_login is None


def test_another_address_is_not_affected(client, accounts):
    for person in accounts[:LIMIT]:
        _sign_in(client, person.id_number, "Summer2026!")

    response = _sign_in(client, accounts[0].id_number, PASSWORD, address=NEIGHBOUR)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(accounts[0].user.pk)


def test_the_block_lasts_the_cool_off_then_lifts(client, accounts):
    for person in accounts[:LIMIT]:
        _sign_in(client, person.id_number, "Summer2026!")
    redis = cache._cache.get_client()
    block_key = cache.make_key(f"{KEY_PREFIX}signin:block:{SPRAYER}")

    # attempts while blocked do not extend the block
    for person in accounts[LIMIT:]:
        _sign_in(client, person.id_number, PASSWORD)

    assert 15 * 60 - 5 <= redis.ttl(block_key) <= 15 * 60
    redis.delete(block_key)  # as when the cool-off ends
    response = _sign_in(client, accounts[-1].id_number, PASSWORD)
    assert response.status_code == 302


def test_a_successful_sign_in_does_not_reset_the_address_count(client, accounts):
    for person in accounts[: LIMIT - 1]:
        _sign_in(client, person.id_number, "Summer2026!")
    assert _sign_in(client, accounts[-1].id_number, PASSWORD).status_code == 302
    client.logout()

    _sign_in(client, accounts[LIMIT].id_number, "Summer2026!")

    assert _sign_in(client, accounts[-2].id_number, PASSWORD).status_code == 429


def test_the_token_api_counts_and_answers_429_in_the_error_shape(accounts):
    api = APIClient(REMOTE_ADDR=SPRAYER)
    statuses = [
        api.post(
            "/api/v1/auth/token/",
            {"username": p.id_number, "password": "Summer2026!"},
            format="json",
        ).status_code
        for p in accounts
    ]
    right = api.post(
        "/api/v1/auth/token/",
        {"username": accounts[-1].id_number, "password": PASSWORD},
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert statuses == [400] * LIMIT + [429] * (ACCOUNTS - LIMIT)
    assert right.status_code == 429
    assert right.json() == {
        "error": {
            "code": "address_locked_out",
            "message": _message(),
            "fields": {},
            "retry_after_minutes": 15,
        }
    }
    # the page is blocked for that address too, the neighbour is not
    assert _sign_in(APIClient(), accounts[-1].id_number, PASSWORD).status_code == 429
    neighbour = APIClient(REMOTE_ADDR=NEIGHBOUR).post(
        "/api/v1/auth/token/",
        {"username": accounts[-1].id_number, "password": PASSWORD},
        format="json",
    )
    assert neighbour.status_code == 200
