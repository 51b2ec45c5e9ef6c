"""The page around a member page's cached block (``pagecache.render_page``):
made once per process with the CSRF token, the path, the unread count and
the block as slots, it must be, byte for byte, the page a full render gives
(the CSRF tokens aside: they are masked anew on every request), in every
language, display mode and unread state, and its CSRF token must work."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib import messages
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.cache import cache
from django.test import Client, RequestFactory

from dashboard import pagecache
from dashboard import views as dashboard_views
from notifications.selectors import _unread_key
from tests.dashboard.helpers import contribution, credit

pytestmark = pytest.mark.django_db

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# A path whose query needs escaping in the page (the language and mode forms
# send it back as ``next``).
RECORDS = '/dashboard/records/?year=2025&status=<b>&note="it\'s"'


def _get(client, path, language):
    response = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, path
    return response


def _masked(html: str) -> str:
    return _TOKEN.sub('name="csrfmiddlewaretoken" value="T"', html)


@pytest.mark.parametrize("path", ["/", RECORDS])
def test_the_page_made_once_is_the_full_render(alice, client_for, monkeypatch, path):
    """Every combination in turn, in one process: a page made for one must
    never be served for another."""
    credit(alice, current_fen=12345, prior_fen=500)
    contribution(alice, dt.date(2025, 11, 1))
    client = client_for(alice)
    made_once = pagecache._made_once
    for unread in (0, 3):
        cache.set(_unread_key(alice.user.pk), unread)
        for elderly in (False, True):
            client.cookies["portal_elderly"] = "1" if elderly else "0"
            for language in ("en", "zh-hans"):
                monkeypatch.setattr(pagecache, "_made_once", made_once)
                made = _get(client, path, language)  # makes the page (or finds it made)
                again = _get(client, path, language)  # from the page made once
                monkeypatch.setattr(pagecache, "_made_once", lambda request: False)
                full = _get(client, path, language)

                html = again.content.decode()
                assert _masked(html) == _masked(full.content.decode()), (unread, elderly, language)
                assert _masked(made.content.decode()) == _masked(html)
                assert again["Content-Type"] == full["Content-Type"]
                assert pagecache._SLOT_PREFIX not in html
                assert ('data-testid="unread-count">3<' in html) is bool(unread)
                assert ('class="elderly"' in html) is elderly
                assert f'<html lang="{language}"' in html
                if path == RECORDS:
                    escaped = (
                        "/dashboard/records/?year=2025&amp;status=%3Cb%3E&amp;note=%22it&#x27;s%22"
                    )
                    assert html.count(f'value="{escaped}"') == 2  # the mode's and language's forms


def test_its_csrf_token_is_accepted(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    for _ in range(2):  # the second from the page made once
        page = _get(client, "/", "en").content.decode()
    token = _TOKEN.search(page).group(1)
    assert client.post("/accounts/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/").status_code == 302  # signed out: to the sign-in page


def test_messages_to_show_get_a_full_render(alice):
    def home(message=None):
        request = RequestFactory().get("/")
        SessionMiddleware(lambda r: None).process_request(request)
        MessageMiddleware(lambda r: None).process_request(request)
        request.user = alice.user
        if message:
            messages.success(request, message)
        page = dashboard_views.home(request).content.decode()
        assert pagecache._SLOT_PREFIX not in page
        return page

    assert "Your choice was saved." not in home()  # the page is made
    assert "Your choice was saved." in home("Your choice was saved.")
    assert "Your choice was saved." not in home()  # and not kept in the page made once


def test_a_member_and_staff_never_share_a_page(alice, staff, client_for, monkeypatch):
    """The header differs by role (staff have no inbox): the same template in
    the same language, first for the member, then for verified staff."""
    path = f"/dashboard/records/?person={alice.pk}"
    member_page = _get(client_for(alice), path, "en").content.decode()
    assert 'data-testid="nav-messages"' in member_page
    staff_client = client_for(staff)
    made_once = _get(staff_client, path, "en").content.decode()
    monkeypatch.setattr(pagecache, "_made_once", lambda request: False)
    full = _get(staff_client, path, "en").content.decode()
    assert _masked(made_once) == _masked(full)
    assert 'data-testid="nav-messages"' not in made_once
