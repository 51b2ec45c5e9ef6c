"""Shared fixtures: the PostgreSQL-only guard, a fast hasher and the cast.

The cast (as in healthchecks' alice/bob/charlie):
- ``alice``: an employee member with a sign-in;
- ``bob``: alice's spouse, also an employee member with a sign-in (the relative);
- ``charlie``: an unrelated member in another province;
- ``staff``: a staff user (no insured person).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from members.auth import IdentityNumberOrPhoneBackend, user_cache_key
from members.idnumber import make_id_number
from members.models import InsuranceType
from members.services import member_user_create, person_create

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True, scope="session")
def _postgresql_only(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.exit(
                "The test suite runs on PostgreSQL only; run it with `make test` "
                f"(got {connection.vendor}).",
                returncode=2,
            )
        name = connection.settings_dict["NAME"]
        if not name.startswith("test_"):
            return  # no test here uses the database: none was set up
        # Let pytest-django empty append-only tables between transactional
        # tests (see portal/db.py); production databases never set this.
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER DATABASE \"{name}\" SET portal.allow_truncate = 'on'")
            cursor.execute("SET portal.allow_truncate = 'on'")


@pytest.fixture(autouse=True, scope="session")
def _forget_cached_users(_postgresql_only):
    """The test database is new each run and its ids start again at 1: a user
    cached by an earlier run (members.auth) must not stand in for this run's.
    Only those entries are dropped (REDIS_URL may name a shared database)."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    # ... and so must the family check counters of an earlier run's members
    # (family.services: failed relative checks per member and day).
    for pattern in (
        cache.make_key(user_cache_key("*")),
        cache.make_key("family:relative-check-failures:*"),
        # ... and the member pages' blocks, keyed by an earlier run's ids.
        cache.make_key("page:*"),
    ):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


def _forget_rate_counters() -> None:
    from django.core.cache import cache

    from portal.throttles import KEY_PREFIX

    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=cache.make_key(f"{KEY_PREFIX}*"), count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    """API throttles and the per-address sign-in limit count in Redis
    (portal.throttles), which outlives a test: every test starts from zero,
    as if from its own address. Only those keys are dropped."""
    _forget_rate_counters()
    yield


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Every member page any test renders checks that its cached block reads
    # only tables whose changes move the read version (dashboard.pagecache).
    settings.PAGE_CACHE_CHECK_TABLES = True


def make_member(
    name: str,
    *,
    region: str = "110105",
    birth: dt.date = dt.date(1985, 3, 15),
    seq: int = 11,
    insurance_type: str = InsuranceType.EMPLOYEE,
    phone: str | None = None,
    signs_in: bool = True,
):
    person = person_create(
        id_number=make_id_number(region, birth, seq),
        name=name,
        insurance_type=insurance_type,
        insured_region=region,
    )
    if signs_in:
        member_user_create(person=person, password=PASSWORD, phone=phone)
    return person


@pytest.fixture
def alice(db):
    return make_member("Alice", birth=dt.date(1985, 3, 15), seq=12, phone="13900000001")


@pytest.fixture
def bob(db):
    return make_member("Bob", birth=dt.date(1984, 7, 1), seq=13, phone="13900000002")


@pytest.fixture
def charlie(db):
    return make_member("Charlie", region="440305", birth=dt.date(1990, 1, 9), seq=15)


@pytest.fixture
def staff(db, django_user_model):
    user = django_user_model(username="staff", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def _pass_otp(client, user):
    """Staff pages need a verified TOTP code (portal.security.staff_required):
    a staff test client signed in with ``client_for`` has passed it.
    tests/security tests the code check itself with plain ``force_login``."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    # As after a first staff request: the idle clock has started
    # (portal.security.StaffSessionIdleMiddleware), so query counts measure
    # the steady state, not the once-a-minute session write.
    import time

    from django.conf import settings

    from portal.security import STAFF_SEEN_KEY

    session[STAFF_SEEN_KEY] = int(time.time())
    if settings.STAFF_SESSION_IDLE_SECONDS:
        session.set_expiry(settings.STAFF_SESSION_IDLE_SECONDS)
    session.save()


@pytest.fixture
def client_for(client):
    """``client_for(person_or_user)``: a test client signed in as them (staff
    also past the one-time-code step)."""

    def _login(who):
        user = getattr(who, "user", who)
        client.force_login(user)
        if user.is_staff:
            _pass_otp(client, user)
        # As after the client's first request: the signed-in user is cached
        # (members.auth), so query counts measure the steady state.
        IdentityNumberOrPhoneBackend().get_user(user.pk)
        return client

    return _login


def can_view(user, person, scope) -> bool:
    """Whether ``user`` (outside a request: never past the one-time code)
    holds ``scope`` on ``person``, as the access layer decides."""
    from access.lookups import person_access
    from access.viewer import viewer_of_user

    return person_access(viewer_of_user(user), person.pk).may(scope)


def person_for_viewer(user, person_id, *, scope: str):
    """A look at ``person_id``'s ``scope`` by ``user`` outside a request, as
    a page makes it through the access layer: refused as a 404, audited when
    the viewer is not the owner."""
    from access.lookups import person_access
    from access.viewer import viewer_of_user

    access = person_access(viewer_of_user(user), person_id)
    person = access.require(scope)
    access.audit(None, scope)
    return person
