"""No identity number in any URL (URLs end up in access logs, browser
history and Referer headers): every form that takes one posts it, and the
admin refuses one in its query string."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.messages import get_messages

from audit.models import AuditEvent
from members.idnumber import contains_id_number, make_id_number

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
LIST = "/admin/members/insuredperson/"
SEARCH = "/admin/members/insuredperson/search/"


@pytest.fixture
def admin_client(client_for, staff):
    staff.is_superuser = True
    staff.save()
    return client_for(staff)


def _urls(response) -> list[str]:
    return [url for url, _status in response.redirect_chain] + [response.request["PATH_INFO"]]


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_admin_finds_a_person_by_number_with_a_post_and_no_number_in_any_url(
    admin_client, alice, bob
):
    response = admin_client.post(SEARCH, {"q": f" {alice.id_number.lower()} "}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(f"{LIST}?id__exact={alice.pk}", 302)]
    assert list(response.context["cl"].result_list) == [alice]
    for url in _urls(response):
        assert not contains_id_number(url), url
    assert alice.masked_id_number in response.content.decode()


def test_an_unknown_number_finds_nobody_and_says_so(admin_client, alice):
    unknown = make_id_number("110105", __import__("datetime").date(1970, 1, 1), 99)

    response = admin_client.post(SEARCH, {"q": unknown}, follow=True, HTTP_ACCEPT_LANGUAGE="en")

    assert response.redirect_chain == [(f"{LIST}?id__exact=0", 302)]
    assert list(response.context["cl"].result_list) == []
    assert _messages(response) == ["Nobody with this identity number is insured here."]


def test_a_name_is_still_searched(admin_client, alice, bob):
    response = admin_client.post(SEARCH, {"q": "Bob"}, follow=True)

    assert response.redirect_chain == [(f"{LIST}?q=Bob", 302)]
    assert list(response.context["cl"].result_list) == [bob]


def test_a_partial_number_is_refused_not_searched(admin_client, alice):
    fifteen = admin_client.post(
        SEARCH, {"q": alice.id_number[:15]}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    seventeen = admin_client.post(
        SEARCH, {"q": alice.id_number[:17]}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert fifteen.redirect_chain == [(LIST, 302)]
    assert _messages(fifteen) == ["Type the whole 18-character identity number, or search by name."]
    # 16 digits or more are meant as a number: the one parser says what is wrong
    assert seventeen.redirect_chain == [(f"{LIST}?id__exact=0", 302)]
    assert list(seventeen.context["cl"].result_list) == []
    (message,) = _messages(seventeen)
    assert message.startswith("Identity number: ")


def test_the_search_box_posts(admin_client, alice):
    html = admin_client.get(LIST).content.decode()

    form = re.search(r'<form id="changelist-search"[^>]*>', html).group(0)
    assert 'method="post"' in form and f'action="{SEARCH}"' in form
    assert "csrfmiddlewaretoken" in html
    assert admin_client.get(SEARCH).status_code == 405


ADMIN_LISTS = [
    LIST,
    "/admin/payments/contribution/",
    "/admin/members/user/",
    "/admin/audit/auditevent/",
]


@pytest.mark.parametrize(
    "query",
    [
        "q={n}",
        "q={lower}",
        "q=Alice+{n}",
        "q={fullwidth}",
        "name={n}",
    ],
)
@pytest.mark.parametrize("page", ADMIN_LISTS)
def test_a_number_in_an_admin_query_string_is_refused(admin_client, alice, page, query):
    number = alice.id_number
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in number)
    url = f"{page}?{query.format(n=number, lower=number.lower(), fullwidth=fullwidth)}"
    before = AuditEvent.objects.count()

    response = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    assert response.url == page  # back to the plain list: the number is not passed on
    assert _messages(response) == [
        "Identity numbers are not accepted in the address (it ends up in logs). "
        "Use the identity-number search of the insured persons list."
    ]
    assert AuditEvent.objects.count() == before  # nothing was listed


def test_the_counter_lookup_posts_and_answers_in_place(client_for, staff, alice):
    client = client_for(staff)

    page = client.get("/family/counter/").content.decode()
    answer = client.post(
        "/family/counter/",
        {"member_id_number": alice.id_number, "relative_id_number": alice.id_number},
    )

    assert re.search(r'<form method="post"', page)
    assert answer.status_code in (400, 403)  # no power of attorney: refused, in place
    assert "Location" not in answer


def test_adding_a_relative_redirects_without_the_number(client_for, alice, bob, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.family.files import png

    settings.PRIVATE_MEDIA_ROOT = tmp_path
    response = client_for(alice).post(
        "/family/add/",
        {
            "agree": "on",
            "agreement_version": "2026-11-v2",
            "name": bob.name,
            "id_number": bob.id_number,
            "relationship": "spouse",
            "scope_balance": "on",
            "document_kind": "commitment_letter",
            "document": SimpleUploadedFile("a.png", png(), "image/png"),
        },
    )

    assert response.status_code == 302
    assert not contains_id_number(response.url)


# Inputs that carry an identity number (or a term that may be one).
NUMBER_FIELDS = {"id_number", "member_id_number", "relative_id_number", "username", "q"}


def test_no_get_form_in_any_template_takes_an_identity_number():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for form in re.findall(r"<form\b.*?</form>", text, flags=re.S | re.I):
            opening = re.match(r"<form\b[^>]*>", form, flags=re.I).group(0)
            if re.search(r'method="?post', opening, flags=re.I):
                continue
            names = set(re.findall(r'name="([^"]+)"', form))
            names |= {m for m in re.findall(r"\{%\s*include[^%]*f=form\.(\w+)", form)}
            if names & NUMBER_FIELDS:
                offenders.append((str(path.relative_to(TEMPLATES)), sorted(names & NUMBER_FIELDS)))

    assert offenders == []
