"""API rate limits per user, per institution and per anonymous address, 429
in the one error shape with Retry-After (issue 15, finding 10)."""

import pytest
from rest_framework.test import APIClient

from claims.services import institution_create, institution_token_create
from members.services import member_token_create
from portal.throttles import parse_rate


def _token_client(user, address="127.0.0.1"):
    api = APIClient(REMOTE_ADDR=address)
    api.credentials(HTTP_AUTHORIZATION=f"Token {member_token_create(user=user)[1]}")
    return api


def _institution_client(name):
    inst = institution_create(name=name, kind="hospital", region="110100")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {institution_token_create(institution=inst)[1]}")
    return api


def _assert_throttled(response):
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    assert response.json() == {
        "error": {
            "code": "throttled",
            "message": response.json()["error"]["message"],
            "fields": {},
            "retry_after_seconds": wait,
        }
    }
    assert str(wait) in response.json()["error"]["message"]


def test_a_member_is_throttled_per_user_across_tokens_and_sessions(
    settings, alice, bob, client_for
):
    settings.API_THROTTLE_MEMBER = "3/minute"
    by_token = _token_client(alice.user)
    by_other_token = _token_client(alice.user, address="10.1.1.1")

    statuses = [by_token.get("/api/v1/me/").status_code for _ in range(2)]
    statuses.append(by_other_token.get("/api/v1/me/").status_code)
    fourth = client_for(alice).get("/api/v1/me/")

    assert statuses == [200, 200, 200]
    _assert_throttled(fourth)
    assert _token_client(bob.user).get("/api/v1/me/").status_code == 200


def test_an_institution_is_throttled_per_institution(settings, db):
    settings.API_THROTTLE_INSTITUTION = "2/minute"
    hospital = _institution_client("City Hospital")
    other = _institution_client("County Hospital")

    statuses = [hospital.get("/api/v1/claims/expenses/999999/").status_code for _ in range(2)]
    third = hospital.get("/api/v1/claims/expenses/999999/")

    assert statuses == [404, 404]
    _assert_throttled(third)
    assert other.get("/api/v1/claims/expenses/999999/").status_code == 404


def test_anonymous_requests_are_throttled_per_address(settings, db):
    settings.API_THROTTLE_ANON = "2/minute"
    url = "/api/v1/payments/calculator/?base=8000&region=110100&year=2026"
    here = APIClient(REMOTE_ADDR="203.0.113.5")

    statuses = [here.get(url).status_code for _ in range(2)]
    third = here.get(url)
    token_endpoint = here.post("/api/v1/auth/token/", {"username": "x", "password": "y"})

    assert statuses == [200, 200]
    _assert_throttled(third)
    _assert_throttled(token_endpoint)
    assert APIClient(REMOTE_ADDR="203.0.113.6").get(url).status_code == 200


def test_off_turns_a_limit_off(settings, alice):
    settings.API_THROTTLE_MEMBER = "off"
    api = _token_client(alice.user)

    assert {api.get("/api/v1/me/").status_code for _ in range(5)} == {200}


def test_the_defaults_leave_room_for_normal_use(settings):
    assert parse_rate(settings.API_THROTTLE_MEMBER)[0] >= 60
    assert parse_rate(settings.API_THROTTLE_INSTITUTION)[0] >= 600
    assert parse_rate(settings.API_THROTTLE_ANON)[0] >= 30
    assert parse_rate("10/second") == (10, 1)
    assert parse_rate("5/hour") == (5, 3600)


def test_a_bad_rate_is_a_configuration_error():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        parse_rate("lots")


def test_a_counter_is_one_round_trip_and_starts_its_window_once():
    """``RedisCache.count``: SET NX EX then INCR in one pipeline; the window's
    expiry is set by the first count only, and a count after the key expired
    starts again at 1."""
    import time

    from django.core.cache import cache

    from portal.throttles import KEY_PREFIX, _count

    key = f"{KEY_PREFIX}test:count"
    client = cache._cache.get_client(write=True)
    client.ping()  # the connection is open: only the count's own writes below
    sent = []
    conn_cls = client.connection_pool.connection_class
    real = conn_cls.send_packed_command

    def spy(self, command, check_health=True):
        sent.append(b"".join(command) if isinstance(command, list) else command)
        return real(self, command, check_health)

    conn_cls.send_packed_command = spy
    try:
        assert _count(key, 1) == 1
    finally:
        conn_cls.send_packed_command = real
    assert len(sent) == 1  # both commands went out in one write
    assert b"NX" in sent[0] and b"INCRBY" in sent[0]
    assert [_count(key, 1) for _ in range(3)] == [2, 3, 4]
    ttl = client.ttl(cache.make_key(key))
    assert 0 < ttl <= 1
    time.sleep(1.2)
    assert _count(key, 1) == 1
