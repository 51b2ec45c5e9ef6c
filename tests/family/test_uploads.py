"""Uploads are judged by content; a refused upload leaves nothing behind."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from family.models import FamilyLink
from members.idnumber import make_id_number
from members.models import InsuredPerson
from portal.errors import ApplicationError
from tests.conftest import make_member

from . import files
from .conftest import request_link, stored_files, upload

NEW_RELATIVE = make_id_number("110105", dt.date(1986, 9, 9), 24)


class Newcomer:
    """A relative the portal has not linked yet (insured: see ``_newcomer``)."""

    name = "New Relative"
    id_number = NEW_RELATIVE


@pytest.fixture(autouse=True)
def _newcomer(db):
    """Relatives enter the register by the insurer's paths only (docs/adr/0009)."""
    return make_member(Newcomer.name, birth=dt.date(1986, 9, 9), seq=24, signs_in=False)


BAD_UPLOADS = {
    "renamed PE executable": (files.EXECUTABLE_PE, "letter.pdf", "application/pdf", "file_type"),
    "renamed ELF executable": (files.EXECUTABLE_ELF, "scan.png", "image/png", "file_type"),
    "empty": (b"", "letter.pdf", "application/pdf", "file_empty"),
    "PDF without %%EOF": (files.pdf()[:-7], "letter.pdf", "application/pdf", "file_corrupt"),
    "PDF without xref": (
        b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n",
        "letter.pdf",
        "application/pdf",
        "file_corrupt",
    ),
    "truncated PNG": (files.png()[:-12], "scan.png", "image/png", "file_corrupt"),
    "truncated JPEG": (files.jpeg()[:-2], "scan.jpg", "image/jpeg", "file_corrupt"),
    "PNG carrying a PDF": (
        files.png(extra_chunk=files.pdf()),
        "scan.png",
        "image/png",
        "file_polyglot",
    ),
    "PNG followed by a PDF": (
        files.png() + files.pdf(),
        "scan.png",
        "image/png",
        "file_polyglot",
    ),
    "PDF with a ZIP directory at its end": (
        files.pdf(body=b"% PK\x05\x06" + b"\x00" * 18 + b"\n"),
        "letter.pdf",
        "application/pdf",
        "file_polyglot",
    ),
    "PDF starting with a PNG signature": (
        b"%PDF-1.4\n\x89PNG\r\n\x1a\n" + files.pdf()[9:],
        "letter.pdf",
        "application/pdf",
        "file_polyglot",
    ),
    "JPEG carrying a ZIP": (
        files.jpeg()[:-2] + b"PK\x03\x04" + b"\x00" * 26 + b"\xff\xd9",
        "scan.jpg",
        "image/jpeg",
        "file_polyglot",
    ),
    "HTML named as PNG": (b"<html><script>alert(1)</script>", "x.png", "image/png", "file_type"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS), ids=list(BAD_UPLOADS))
def test_bad_upload_is_refused_and_leaves_nothing(case, alice, private_media):
    content, name, content_type, code = BAD_UPLOADS[case]
    people_before = InsuredPerson.objects.count()

    with pytest.raises(ApplicationError) as refused:
        request_link(
            alice,
            Newcomer,
            document=SimpleUploadedFile(name, content, content_type=content_type),
        )

    assert refused.value.code == code
    assert list(refused.value.fields) == ["document"]
    assert FamilyLink.objects.count() == 0
    assert InsuredPerson.objects.count() == people_before
    assert stored_files(private_media) == []


def test_oversized_upload_is_refused(alice, private_media, settings):
    assert settings.FAMILY_UPLOAD_MAX_BYTES == 5 * 1024 * 1024
    big = files.pdf(body=b"%" + b"a" * (5 * 1024 * 1024) + b"\n")

    with pytest.raises(ApplicationError) as refused:
        request_link(alice, Newcomer, document=upload(big, "big.pdf", "application/pdf"))

    assert refused.value.code == "file_too_large"
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []


def test_cap_is_a_setting(alice, private_media, settings):
    settings.FAMILY_UPLOAD_MAX_BYTES = 100

    with pytest.raises(ApplicationError) as refused:
        request_link(alice, Newcomer, document=upload(files.pdf(), "a.pdf", "application/pdf"))

    assert refused.value.code == "file_too_large"
    assert stored_files(private_media) == []


@pytest.mark.parametrize(
    ("content", "expected_type"),
    [(files.png(), "image/png"), (files.jpeg(), "image/jpeg"), (files.pdf(), "application/pdf")],
    ids=["png", "jpeg", "pdf"],
)
def test_good_upload_is_stored_privately_under_a_random_name(
    content, expected_type, alice, private_media
):
    # The client's name and declared type are ignored.
    link = request_link(
        alice, Newcomer, document=upload(content, "../../etc/passwd.exe", "text/html")
    )

    assert link.document_type == expected_type
    assert link.document_size == len(content)
    assert stored_files(private_media) == [link.document_name]
    assert len(link.document_name) == 48 and "." not in link.document_name
    assert (private_media / "family" / link.document_name).read_bytes() == content


def test_database_refusal_after_storing_removes_the_file(alice, bob, private_media):
    request_link(alice, bob)
    assert len(stored_files(private_media)) == 1

    with pytest.raises(ApplicationError) as refused:
        request_link(alice, bob)  # second open link for the same pair

    assert refused.value.code == "link_exists"
    assert FamilyLink.objects.count() == 1
    assert len(stored_files(private_media)) == 1


def test_api_refuses_a_renamed_executable_in_the_error_shape(client_for, alice, private_media):
    response = client_for(alice).post(
        "/api/v1/family/links/",
        {
            "agree": "true",
            "agreement_version": "2026-11-v1",
            "name": Newcomer.name,
            "id_number": Newcomer.id_number,
            "relationship": "spouse",
            "scope_balance": "true",
            "document_kind": "commitment_letter",
            "document": SimpleUploadedFile("a.pdf", files.EXECUTABLE_PE, "application/pdf"),
        },
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_type"
    assert "document" in response.json()["error"]["fields"]
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []


def test_page_shows_a_clear_error_for_an_empty_file(client_for, alice, private_media):
    response = client_for(alice).post(
        "/family/add/",
        {
            "agree": "on",
            "agreement_version": "2026-11-v1",
            "name": Newcomer.name,
            "id_number": Newcomer.id_number,
            "relationship": "spouse",
            "scope_balance": "on",
            "document_kind": "commitment_letter",
            "document": SimpleUploadedFile("a.pdf", b"", "application/pdf"),
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 400
    assert "The file is empty." in response.content.decode()
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []
