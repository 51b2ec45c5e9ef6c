"""Member API tokens: stored as SHA-256 only, expire, and end on a password
change, on "sign out everywhere" and on deactivation; staff sessions end
after an idle time (issue 15, finding 2)."""

import datetime as dt
import hashlib
import time

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from members.models import MemberToken
from portal.security import STAFF_SEEN_KEY
from tests.conftest import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"


def _obtain(person, password=PASSWORD):
    response = APIClient().post(
        TOKEN_URL, {"username": person.id_number, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def _me(key):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/v1/me/")


def _refused(response):
    return response.status_code in (401, 403) and response.json()["error"]["code"] in (
        "authentication_failed",
        "not_authenticated",
    )


def test_the_key_is_shown_once_and_only_its_sha256_is_stored(alice, settings):
    settings.MEMBER_TOKEN_SECONDS = 3600
    before = timezone.now()

    body = _obtain(alice)
    key = body["token"]

    token = MemberToken.objects.get()
    assert token.user_id == alice.user.pk
    assert token.key_sha256 == hashlib.sha256(key.encode()).hexdigest()
    assert token.prefix == key[:12]
    # nothing stored lets one rebuild the key
    assert key not in str(list(MemberToken.objects.values()))
    assert token.expires_at == token.created_at + dt.timedelta(seconds=3600)
    assert before <= token.created_at <= timezone.now()
    assert dt.datetime.fromisoformat(body["expires_at"]) == token.expires_at
    assert _me(key).json()["person"]["id_number"] == alice.id_number


def test_the_clear_token_table_is_gone(db):
    assert "authtoken_token" not in connection.introspection.table_names()


def test_a_dumped_hash_is_not_a_token(alice):
    _obtain(alice)

    assert _refused(_me(MemberToken.objects.get().key_sha256))


def test_an_expired_token_is_refused(alice):
    key = _obtain(alice)["token"]
    assert _me(key).status_code == 200

    MemberToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert _refused(_me(key))


def test_a_password_change_on_the_page_ends_tokens_from_the_next_request(alice, client):
    key = _obtain(alice)["token"]
    assert _me(key).status_code == 200  # the user is now cached (members.auth)
    client.post("/accounts/login/", {"username": alice.id_number, "password": PASSWORD})

    changed = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new Passw0rd for alice",
            "new_password2": "a new Passw0rd for alice",
        },
    )

    assert changed.status_code == 302
    assert _refused(_me(key))
    assert MemberToken.objects.get().revoked_at is not None
    event = AuditEvent.objects.get(action="security.tokens_revoked")
    assert event.detail == {"reason": "password_changed", "count": 1}
    # a new sign-in gives a working token again
    assert _me(_obtain(alice, "a new Passw0rd for alice")["token"]).status_code == 200


def test_set_password_anywhere_ends_tokens(alice):
    key = _obtain(alice)["token"]
    user = alice.user

    user.set_password("another Passw0rd 2026")
    user.save()

    assert _refused(_me(key))


def test_other_saves_of_the_user_keep_tokens(alice):
    key = _obtain(alice)["token"]
    user = alice.user

    user.email = "alice@example.org"
    user.save()

    assert _me(key).status_code == 200
    assert not AuditEvent.objects.filter(action="security.tokens_revoked").exists()


def test_deactivation_ends_tokens_for_good(alice):
    key = _obtain(alice)["token"]
    assert _me(key).status_code == 200
    user = alice.user

    user.is_active = False
    user.save()
    refused = _me(key)
    user.is_active = True
    user.save()

    assert _refused(refused)
    assert _refused(_me(key))
    event = AuditEvent.objects.get(action="security.tokens_revoked")
    assert event.detail == {"reason": "deactivated", "count": 1}


def test_sign_out_everywhere_ends_every_session_and_token(alice, client, django_user_model):
    from django.test import Client

    key = _obtain(alice)["token"]
    other_device = Client()
    other_device.post("/accounts/login/", {"username": alice.id_number, "password": PASSWORD})
    assert other_device.get("/api/v1/me/").status_code == 200
    client.post("/accounts/login/", {"username": alice.id_number, "password": PASSWORD})
    assert client.get("/api/v1/me/").status_code == 200

    response = client.post("/accounts/logout/everywhere/")

    assert response.status_code == 302
    assert response.url == "/accounts/login/"
    assert client.get("/api/v1/me/").status_code == 403
    assert other_device.get("/api/v1/me/").status_code == 403
    assert other_device.get("/").url.startswith("/accounts/login/")
    assert _refused(_me(key))
    assert django_user_model.objects.get(pk=alice.user.pk).session_generation == 1
    assert AuditEvent.objects.filter(action="security.signed_out_everywhere").count() == 1
    # signing in again works
    again = Client()
    again.post("/accounts/login/", {"username": alice.id_number, "password": PASSWORD})
    assert again.get("/api/v1/me/").status_code == 200


def test_sign_out_everywhere_needs_a_post(client_for, alice):
    client = client_for(alice)

    assert client.get("/accounts/logout/everywhere/").status_code == 405
    assert client.get("/api/v1/me/").status_code == 200


def test_an_api_client_signs_its_token_out(alice):
    first = _obtain(alice)["token"]
    second = _obtain(alice)["token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {first}")

    response = api.delete(TOKEN_URL)

    assert response.status_code == 204
    assert _refused(_me(first))
    assert _me(second).status_code == 200  # another device's token stays


def test_signing_out_a_token_needs_the_token(client_for, alice):
    _obtain(alice)

    response = client_for(alice).delete(TOKEN_URL)

    assert response.status_code in (401, 403)
    assert MemberToken.objects.get().revoked_at is None


def test_old_tokens_are_cleared_when_a_new_one_is_made(alice):
    _obtain(alice)
    MemberToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    _obtain(alice)

    assert MemberToken.objects.count() == 1


def test_the_schema_documents_the_member_token(client, db):
    schema = client.get("/api/schema/?format=json").json()

    scheme = schema["components"]["securitySchemes"]["memberToken"]
    assert scheme["type"] == "apiKey" and scheme["name"] == "Authorization"
    assert "tokenAuth" not in schema["components"]["securitySchemes"]
    assert {"memberToken": []} in schema["paths"]["/api/v1/me/"]["get"]["security"]
    token_post = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]["200"]
    ref = token_post["content"]["application/json"]["schema"]["$ref"]
    output = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(output["properties"]) == {"token", "expires_at"}


# --- Staff sessions end after an idle time ------------------------------------


@pytest.fixture
def idle(settings):
    settings.STAFF_SESSION_IDLE_SECONDS = 900
    return 900


def _age_last_seen(client, seconds):
    session = client.session
    session[STAFF_SEEN_KEY] = int(time.time()) - seconds
    session.save()


def test_an_idle_staff_session_is_signed_out(client_for, staff, idle):
    client = client_for(staff)
    assert client.get("/staff/settlement/").status_code == 200
    assert client.session.get_expiry_age() == idle
    old_key = client.session.session_key
    from importlib import import_module

    from django.conf import settings

    assert "_auth_user_id" in import_module(settings.SESSION_ENGINE).SessionStore(old_key).load()

    _age_last_seen(client, idle + 1)
    response = client.get("/staff/settlement/")

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session
    # the stolen key is worth nothing either
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert store(old_key).load() == {}


def test_an_active_staff_session_stays(client_for, staff, idle):
    client = client_for(staff)
    client.get("/staff/settlement/")

    _age_last_seen(client, idle - 60)
    response = client.get("/staff/settlement/")

    assert response.status_code == 200
    assert int(time.time()) - client.session[STAFF_SEEN_KEY] <= 1


def test_member_sessions_have_no_staff_idle_limit(client_for, alice, idle):
    client = client_for(alice)
    client.get("/")

    _age_last_seen(client, idle * 10)

    assert client.get("/").status_code == 200


def test_the_first_staff_request_starts_the_idle_clock(client_for, staff, idle):
    client = client_for(staff)
    session = client.session
    session.pop(STAFF_SEEN_KEY)  # as right after signing in
    session.set_expiry(None)
    session.save()
    assert client.session.get_expiry_age() == 1209600

    assert client.get("/staff/settlement/").status_code == 200

    assert client.session.get_expiry_age() == idle
    assert int(time.time()) - client.session[STAFF_SEEN_KEY] <= 1
