"""The elderly mode (长辈版): switched from every page, remembered on the
device and for the member across devices, costs no query to read."""

from __future__ import annotations

import pytest
from django.test import Client

from dashboard.models import DisplayPreference
from tests.conftest import PASSWORD


def _html_class(response) -> str:
    head = response.content.decode().split(">", 2)[1]
    return head


@pytest.mark.django_db
def test_an_anonymous_visitor_switches_it_on_and_back_off(client):
    page = client.get("/accounts/login/")
    assert 'class="elderly"' not in _html_class(page)
    assert b'data-testid="elderly-switch"' in page.content

    response = client.post("/display/", {"elderly": "1", "next": "/accounts/login/"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert response.cookies["portal_elderly"].value == "1"
    assert 'class="elderly"' in _html_class(client.get("/accounts/login/"))

    client.post("/display/", {"elderly": "0", "next": "/accounts/login/"})

    assert 'class="elderly"' not in _html_class(client.get("/accounts/login/"))


def test_a_member_s_choice_follows_them_to_another_device(alice, client_for):
    first = client_for(alice)
    first.post("/display/", {"elderly": "1", "next": "/"})
    assert DisplayPreference.objects.get(user=alice.user).elderly_mode is True

    other_device = Client()
    other_device.post("/accounts/login/", {"username": alice.id_number, "password": PASSWORD})

    assert 'class="elderly"' in _html_class(other_device.get("/"))


def test_switching_back_is_remembered_too(alice, client_for):
    member = client_for(alice)
    member.post("/display/", {"elderly": "1", "next": "/"})
    member.post("/display/", {"elderly": "0", "next": "/"})

    assert DisplayPreference.objects.get(user=alice.user).elderly_mode is False
    assert 'class="elderly"' not in _html_class(member.get("/"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_the_switch_never_sends_anyone_off_site(client, target):
    response = client.post("/display/", {"elderly": "1", "next": target})

    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_the_switch_only_takes_a_post(client):
    assert client.get("/display/?elderly=1").status_code == 405
