"""Staff preview a PDF as PNG images rendered on the server, and only staff."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.test import Client
from PIL import Image

from audit.models import AuditEvent
from tests.conftest import make_member

from . import files
from .conftest import request_link, upload


def _pdf_with_pages(count: int) -> bytes:
    from fpdf import FPDF

    document = FPDF()
    document.set_font("helvetica", size=14)
    for number in range(count):
        document.add_page()
        document.cell(text=f"page {number + 1}")
    return bytes(document.output())


@pytest.fixture
def pdf_link(alice, bob):
    return request_link(alice, bob, document=upload(files.pdf(), "a.pdf", "application/pdf"))


def _preview(client, link):
    return client.get(f"/family/links/{link.pk}/document/preview/")


def test_staff_get_the_first_page_as_a_png_and_the_view_is_audited(
    client_for, staff, alice, pdf_link
):
    response = _preview(client_for(staff), pdf_link)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert {"private", "no-store"} <= set(response["Cache-Control"].replace(" ", "").split(","))
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    assert image.size == (827, 1170)  # A4 at the default 100 DPI
    events = list(AuditEvent.objects.filter(action="family.document.preview"))
    assert [(e.actor_id, e.subject_person_id, e.object_id) for e in events] == [
        (staff.pk, alice.pk, str(pdf_link.pk))
    ]


def test_at_most_the_configured_pages_at_the_configured_dpi(client_for, staff, alice, settings):
    father = make_member("Father", birth=dt.date(1955, 2, 1), seq=31)
    link = request_link(
        alice,
        father,
        relationship="parent",
        document=upload(_pdf_with_pages(7), "a.pdf", "application/pdf"),
    )
    settings.FAMILY_PREVIEW_MAX_PAGES = 3
    settings.FAMILY_PREVIEW_DPI = 36

    image = Image.open(io.BytesIO(_preview(client_for(staff), link).content))

    # three A4 pages at 36 DPI (298 x 421 each), 12 pixels apart
    assert image.size == (298, 3 * 421 + 2 * 12)


def test_a_page_of_absurd_size_is_scaled_down(client_for, staff, alice, bob):
    content = files.raw_pdf().replace(b"/MediaBox [0 0 200 200]", b"/MediaBox [0 0 14400 7200]")
    link = request_link(alice, bob, document=upload(content, "a.pdf", "application/pdf"))

    image = Image.open(io.BytesIO(_preview(client_for(staff), link).content))

    assert image.size == (2000, 1000)


@pytest.mark.parametrize("who", ["alice", "bob", "charlie"])
def test_members_get_403_even_the_uploader(who, request, pdf_link):
    person = request.getfixturevalue(who)
    client = Client()
    client.force_login(person.user)

    response = _preview(client, pdf_link)

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="family.document.preview").exists()


def test_anonymous_and_staff_without_the_code_are_sent_away(client, staff, pdf_link):
    anonymous = _preview(Client(), pdf_link)
    client.force_login(staff)  # password only, no one-time code yet
    unverified = _preview(client, pdf_link)

    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.url
    assert unverified.status_code == 302 and "/accounts/login/" not in unverified.url
    assert not AuditEvent.objects.filter(action="family.document.preview").exists()


def test_an_image_document_has_no_preview(client_for, staff, alice, bob):
    link = request_link(alice, bob)  # a PNG

    assert _preview(client_for(staff), link).status_code == 404


def test_a_missing_file_is_a_404(client_for, staff, pdf_link, private_media):
    (private_media / "family" / pdf_link.document_name).unlink()

    assert _preview(client_for(staff), pdf_link).status_code == 404
    assert not AuditEvent.objects.filter(action="family.document.preview").exists()


def test_the_review_card_shows_the_preview_as_an_image(client_for, staff, pdf_link):
    html = client_for(staff).get("/family/review/").content.decode()

    assert (
        f'<img class="document-image" src="/family/links/{pdf_link.pk}/document/preview/"' in html
    )
    assert "<object" not in html and "<embed" not in html and "<iframe" not in html
