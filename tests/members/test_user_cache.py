"""The signed-in user is read from the cache (members.auth), and every change
to the user or their person counts from the very next request."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from members.auth import IdentityNumberOrPhoneBackend, user_cache_key
from members.models import User

from ..conftest import make_member

pytestmark = pytest.mark.django_db

BALANCE = "/api/v1/accounts/balance/"


def test_a_signed_in_request_reads_the_user_from_the_cache(
    client_for, alice, settings, django_assert_num_queries
):
    assert settings.AUTH_USER_CACHE_SECONDS > 0  # REDIS_URL is set for the tests
    client = client_for(alice)
    client.get(BALANCE)  # fills the cache

    with django_assert_num_queries(1) as captured:  # the pockets, nothing else
        assert client.get(BALANCE).status_code == 200
    assert "accounts_ledgeraccount" in captured.captured_queries[0]["sql"]


def test_the_cached_user_carries_the_person(alice):
    backend = IdentityNumberOrPhoneBackend()
    backend.get_user(alice.user.pk)

    cached = cache.get(user_cache_key(alice.user.pk))

    assert cached.pk == alice.user.pk
    assert cached.person.pk == alice.pk  # no query: loaded with the user


def test_a_password_change_signs_other_sessions_out_at_once(client_for, alice):
    client = client_for(alice)
    assert client.get(BALANCE).status_code == 200

    user = User.objects.get(pk=alice.user.pk)
    user.set_password("a new secret 2026")
    user.save()

    assert client.get(BALANCE).status_code in (401, 403)


def test_deactivation_counts_from_the_next_request(client_for, alice):
    client = client_for(alice)
    assert client.get(BALANCE).status_code == 200

    user = User.objects.get(pk=alice.user.pk)
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert client.get(BALANCE).status_code in (401, 403)


def test_an_edit_of_the_person_shows_on_the_next_page(client_for, alice):
    client = client_for(alice)
    client.get("/")
    alice.name = "Alice Renamed"
    alice.save(update_fields=["name"])

    assert "Alice Renamed" in client.get("/").content.decode()


def test_a_person_moved_to_another_user_leaves_neither_entry_stale(client_for, alice):
    other = make_member("Dora", seq=31, signs_in=False)
    client = client_for(alice)
    assert client.get(BALANCE).json()["person_id"] == alice.pk
    user = alice.user

    # The sign-in is moved from alice's person record to Dora's (staff fixing a mix-up).
    alice.user = None
    alice.save(update_fields=["user"])
    other.user = user
    other.save(update_fields=["user"])

    assert client.get(BALANCE).json()["person_id"] == other.pk


@pytest.mark.django_db(transaction=True)
def test_an_entry_cached_before_the_commit_is_dropped_after_it(alice):
    backend = IdentityNumberOrPhoneBackend()
    key = user_cache_key(alice.user.pk)
    before = User.objects.select_related("person").get(pk=alice.user.pk)
    with transaction.atomic():
        user = User.objects.get(pk=alice.user.pk)
        user.is_active = False
        user.save()
        # Another request, not seeing the uncommitted change, caches the old row.
        cache.set(key, before, 300)
        assert cache.get(key) is not None
    assert cache.get(key) is None
    assert backend.get_user(alice.user.pk) is None  # inactive, read afresh


def test_off_without_a_shared_cache(alice, settings, django_assert_num_queries):
    settings.AUTH_USER_CACHE_SECONDS = 0
    backend = IdentityNumberOrPhoneBackend()
    backend.get_user(alice.user.pk)
    with django_assert_num_queries(1):
        assert backend.get_user(alice.user.pk).person.pk == alice.pk
