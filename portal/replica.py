"""Member read-only pages from a streaming read replica (DATABASE_REPLICA_URL).

Only GET/HEAD requests to the views in ``DATABASE_REPLICA_VIEWS`` (dashboard,
payment record, yearly summary with its charts) read from the replica, and
only models outside ``PRIMARY_ONLY_APPS``: everything that decides access
(users, persons, family links and their scopes, sessions, tokens, lockouts,
one-time-code devices) and the audit trail are read from the primary, so a
revoked family link refuses the very next request however far the replica
lags. Every write goes to the primary. After a signed-in member's own write
(any POST, PUT, PATCH or DELETE) a short signed cookie sends their reads to
the primary for ``DATABASE_REPLICA_STICKY_SECONDS``, so they see what they
just did.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.conf import settings
from django.core.signing import BadSignature
from django.db import DEFAULT_DB_ALIAS, connections, router

REPLICA = "replica"
RECENT_WRITE_COOKIE = "portal_recent_write"
PRIMARY_ONLY_APPS = frozenset(
    {
        "members",
        "family",
        "auth",
        "sessions",
        "authtoken",
        "axes",
        "otp_totp",
        "django_otp",
        "contenttypes",
        "admin",
        "audit",
        "portal",
    }
)
_use_replica: ContextVar[bool] = ContextVar("portal_use_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in connections.settings


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if (
            _use_replica.get()
            and model._meta.app_label not in PRIMARY_ONLY_APPS
            and replica_configured()
        ):
            return REPLICA
        return None

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, **hints):
        return db == DEFAULT_DB_ALIAS


def reading(model):
    """The connection a plain-SQL read of ``model`` should use."""
    return connections[router.db_for_read(model) or DEFAULT_DB_ALIAS]


def recent_write(request) -> bool:
    try:
        return bool(
            request.get_signed_cookie(
                RECENT_WRITE_COOKIE,
                default=None,
                salt=RECENT_WRITE_COOKIE,
                max_age=settings.DATABASE_REPLICA_STICKY_SECONDS,
            )
        )
    except BadSignature:
        return False


class ReplicaReadsMiddleware:
    """After the authentication middleware: turns replica reads on for the
    listed views, and marks a member's own writes."""

    SAFE = ("GET", "HEAD")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        token = getattr(request, "_replica_token", None)
        if token is not None:
            _use_replica.reset(token)
        if (
            request.method not in self.SAFE
            and replica_configured()
            and getattr(request, "user", None) is not None
            and request.user.is_authenticated
        ):
            response.set_signed_cookie(
                RECENT_WRITE_COOKIE,
                "1",
                salt=RECENT_WRITE_COOKIE,
                max_age=settings.DATABASE_REPLICA_STICKY_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if (
            request.method in self.SAFE
            and match is not None
            and match.view_name in settings.DATABASE_REPLICA_VIEWS
            and replica_configured()
            and not recent_write(request)
        ):
            request._replica_token = _use_replica.set(True)
        return None
