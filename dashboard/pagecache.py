"""The member pages' content block, cached under a read version the database
keeps (docs/adr/0006, "the member pages' cache").

A page calls :func:`content_block` with the person whose figures it shows, the
parameters that shape it (already validated) and a function that renders the
block. The key holds the person's read version (``dashboard_readbump``, moved
by triggers on every table the block reads), the viewer, the language, the
day, the parameters and the release, so a hit is exact: whatever changed what
the block would show has moved the version, and the next request renders it
again. Everything per request stays outside the block: the page around it
(CSRF tokens, the unread badge, messages) and the full identity number, which
is never cached (:data:`ID_NUMBER_SLOT` is filled per request).

Off (the block is rendered every time) when ``PAGE_CACHE_SECONDS`` is 0 or the
database is not PostgreSQL (the SQLite demo has no triggers).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connections
from django.dispatch import receiver
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from access.viewer import viewer_for
from notifications.selectors import unread_count
from portal.prepared import prepared_cursor
from portal.replica import reading

from . import display
from .models import ReadBump

# Stands in for the full identity number inside a cached block. Every text
# from the database is escaped in the block, so no data can spell it.
ID_NUMBER_SLOT = "<!--id-number-->"

_release: str | None = None
# What shapes a block besides the database: templates, translations, code,
# and data files shipped with it (region names).
PATTERNS = (
    "templates/**/*.html",
    "locale/**/*.mo",
    "*/*.py",
    "*/templatetags/*.py",
    "*/data/*",
)


def release() -> str:
    """A digest of the templates, translations and Python sources that shape
    the blocks: a deployment that changes any of them starts a new keyspace."""
    global _release
    if _release is None:
        base = Path(settings.BASE_DIR)
        digest = hashlib.sha256()
        for pattern in PATTERNS:
            for path in sorted(base.glob(pattern)):
                if ".venv" in path.parts:
                    continue
                digest.update(str(path.relative_to(base)).encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
        _release = digest.hexdigest()[:12]
    return _release


_TABLE = re.compile(r'\b(?:FROM|JOIN)\s+"?([a-z_][a-z0-9_]*)"?', re.IGNORECASE)


def watched_tables(connection) -> set[str]:
    """The tables whose every INSERT, UPDATE and DELETE moves a read
    version (the triggers of dashboard migration 0004)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE t.tgname LIKE %s AND NOT t.tgisinternal"
            " GROUP BY c.relname HAVING count(*) = 3",
            ["%\\_read\\_bump\\_%"],
        )
        return {row[0] for row in cur.fetchall()}


def _checked(build: Callable[[], str], connection) -> str:
    """``build()``, refusing to cache a block that read a table no trigger
    watches (``PAGE_CACHE_CHECK_TABLES``, on in the tests): such a block
    could be served after that table changed."""
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with contextlib.ExitStack() as stack:
        for conn in connections.all(initialized_only=True):
            stack.enter_context(conn.execute_wrapper(record))
        html = build()
    tables = set(connection.introspection.table_names())
    read = {m.lower() for sql in statements for m in _TABLE.findall(sql)} & tables
    unwatched = read - watched_tables(connection) - {"dashboard_readbump"}
    if unwatched:
        raise ImproperlyConfigured(
            f"A cached page block read {sorted(unwatched)}, which no read-version trigger "
            "watches: add them to dashboard migration 0004's WATCHED (docs/adr/0006)."
        )
    return html


def _database() -> str:
    """The primary database's address: two deployments sharing one Redis
    (staging beside production, say) never share a block."""
    db = settings.DATABASES["default"]
    return f"{db.get('HOST')}:{db.get('PORT')}/{db.get('NAME')}"


def enabled(connection) -> bool:
    return settings.PAGE_CACHE_SECONDS > 0 and connection.vendor == "postgresql"


def read_version(connection, person_id: int) -> int:
    """The person's read version: grows with every committed change to what
    their pages show (their own rows, or person 0's for everyone's)."""
    with prepared_cursor(connection) as cur:
        cur.execute(
            "SELECT COALESCE(SUM(weight), 0) FROM dashboard_readbump WHERE person_id IN (%s, 0)",
            [person_id],
        )
        return int(cur.fetchone()[0])


def content_block(
    request,
    *,
    page: str,
    subject_id: int,
    params: tuple = (),
    build: Callable[[], str],
    id_number: Callable[[], str] | None = None,
) -> SafeString:
    """``build()``'s HTML, from the cache when the read version allows.

    ``params`` are everything besides the subject and the viewer that changes
    the block (scopes shown, filters, cursors), validated by the view.
    ``id_number()`` (decrypted per request, never cached) fills
    :data:`ID_NUMBER_SLOT`."""
    connection = reading(ReadBump)
    if enabled(connection):
        # Read before the block's own queries: a block rendered from a later
        # snapshot than its version is only ever newer than its key says.
        version = read_version(connection, subject_id)
        viewer = getattr(request.user, "pk", None)
        parts = (
            release(),
            _database(),
            page,
            subject_id,
            viewer,
            get_language(),
            display.elderly_mode(request),
            timezone.localdate().isoformat(),
            version,
            *params,
        )
        key = "page:" + hashlib.sha256(repr(parts).encode()).hexdigest()
        html = cache.get(key)
        if html is None:
            check = settings.PAGE_CACHE_CHECK_TABLES
            html = _checked(build, connection) if check else str(build())
            cache.set(key, html, settings.PAGE_CACHE_SECONDS)
    else:
        html = str(build())
    if id_number is not None and ID_NUMBER_SLOT in html:
        html = html.replace(ID_NUMBER_SLOT, escape(id_number()))
    return mark_safe(html)  # noqa: S308 - rendered by the templates, autoescaped


# --- the page around the block ------------------------------------------------
#
# ``base.html`` around a cached block cost as much as the rest of the request
# (issue 16, ninth round: 0.8 of 2.4-2.8 ms of CPU on the dashboard). What it
# shows depends on the template, the language, the elderly mode and the
# viewer's role, and per request only on four things: the CSRF token, the
# path, the unread count and the block. So each process renders the page once
# per (template, language, mode, role, whether anything is unread) with those
# four as slots, and fills the slots per request. A request with messages to
# show is rendered in full (they come and go).

# Letters and digits only: escaping leaves a slot as it is, wherever it lands.
_SLOT_PREFIX = f"slot{secrets.token_hex(8)}"
_SLOT = re.compile(f"{_SLOT_PREFIX}(content|csrf|path|unread)")
_pages: dict[tuple, list[str]] = {}


def _slot(name: str) -> str:
    return f"{_SLOT_PREFIX}{name}"


class _PathSlot:
    """The request as the page around the block reads it: its path a slot."""

    def __init__(self, request):
        self._request = request

    def get_full_path(self) -> str:
        return _slot("path")

    def __getattr__(self, name):
        return getattr(self._request, name)


@receiver(setting_changed)
def _forget_pages(**kwargs) -> None:
    _pages.clear()


def _made_once(request) -> bool:
    """Whether this request's page may come from the page made once: not
    with DEBUG (templates may change under a running process), nor with
    messages to show."""
    return not settings.DEBUG and not len(get_messages(request))


def render_page(request, template_name: str, content: SafeString) -> HttpResponse:
    """``render(request, template_name, {"content": content})`` for a page
    whose template only places ``content`` in ``base.html`` (blocks of fixed
    text besides), from the page made once per process (above)."""
    if not _made_once(request):
        return render(request, template_name, {"content": content})
    viewer = viewer_for(request)
    # The header's role, as base.html reads it (the account's staff flag).
    staff = viewer.staff_account
    unread = unread_count(viewer.user) if viewer.is_authenticated and not staff else 0
    key = (
        template_name,
        get_language(),
        display.elderly_mode(request),
        viewer.is_authenticated,
        staff,
        bool(unread),
        get_script_prefix(),
        get_urlconf(),
    )
    parts = _pages.get(key)
    if parts is None:
        context = {
            "content": mark_safe(_slot("content")),  # noqa: S308 - letters and digits
            "csrf_token": _slot("csrf"),
            "request": _PathSlot(request),
            "notify_unread": _slot("unread") if unread else 0,
        }
        parts = _SLOT.split(render_to_string(template_name, context, request))
        _pages[key] = parts
    values = {
        "content": content,
        "csrf": escape(get_token(request)),
        "path": escape(request.get_full_path()),
        "unread": str(unread),
    }
    html = [parts[0]]
    for n in range(1, len(parts), 2):
        html += (values[parts[n]], parts[n + 1])
    return HttpResponse("".join(html))
