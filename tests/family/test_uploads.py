"""Uploads are judged by content; a refused upload leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.utils import translation
from PIL import Image

from audit.models import AuditEvent
from family.models import FamilyLink
from members.idnumber import make_id_number
from members.models import InsuredPerson
from portal.errors import ApplicationError
from tests.conftest import make_member

from . import files, hostile
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
    "HTML named as PNG": (b"<html><script>alert(1)</script>", "x.png", "image/png", "file_type"),
}
HOSTILE = hostile.build()


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
    big = files.raw_pdf(between=b"%" + b"a" * (5 * 1024 * 1024) + b"\n")

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


def _stored(link, private_media) -> bytes:
    return (private_media / "family" / link.document_name).read_bytes()


@pytest.mark.parametrize(
    ("content", "expected_type"),
    [
        (files.png(), "image/png"),
        (files.pillow_png(), "image/png"),
        (files.jpeg(), "image/jpeg"),
        (files.pdf(), "application/pdf"),
    ],
    ids=["png", "pillow-png", "jpeg", "pdf"],
)
def test_good_upload_is_stored_privately_under_a_random_name(
    content, expected_type, alice, private_media
):
    # The client's name and declared type are ignored.
    link = request_link(
        alice, Newcomer, document=upload(content, "../../etc/passwd.exe", "text/html")
    )

    stored = _stored(link, private_media)
    assert link.document_type == expected_type
    assert link.document_size == len(stored)
    assert link.document_sha256 == hashlib.sha256(stored).hexdigest()
    assert stored_files(private_media) == [link.document_name]
    assert len(link.document_name) == 48 and "." not in link.document_name
    if expected_type == "application/pdf":
        assert stored == content  # the checked file itself
    else:  # a re-encoded copy with the same pixels
        assert Image.open(io.BytesIO(stored)).size == Image.open(io.BytesIO(content)).size


def test_an_image_is_stored_as_a_reencoded_copy_without_metadata(alice, private_media):
    original = files.jpeg_with_exif()
    assert b"SecretCam" in original and b"taken at home" in original

    link = request_link(alice, Newcomer, document=upload(original, "p.jpg", "image/jpeg"))

    stored = _stored(link, private_media)
    assert stored != original
    assert b"SecretCam" not in stored and b"taken at home" not in stored
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and image.size == (40, 30)
    assert not image.getexif()
    assert "comment" not in image.info and "icc_profile" not in image.info


def test_a_png_text_chunk_is_not_kept(alice, private_media):
    original = files.png_with_chunk(b"tEXt", b"Author\x00Alice Example, 13900000001")

    link = request_link(alice, Newcomer, document=upload(original, "p.png", "image/png"))

    stored = _stored(link, private_media)
    assert b"tEXt" not in stored and b"13900000001" not in stored
    assert Image.open(io.BytesIO(stored)).size == (40, 30)


def test_a_pdf_that_only_opens_at_a_page_is_accepted(alice, private_media):
    content = files.raw_pdf(catalog=b"/OpenAction [3 0 R /Fit]")

    link = request_link(alice, Newcomer, document=upload(content, "a.pdf", "application/pdf"))

    assert _stored(link, private_media) == content


def test_the_hostile_corpus_is_large_enough():
    assert len(HOSTILE) >= 25


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_upload_is_refused_with_a_translated_reason(case, alice, private_media):
    content, code = HOSTILE[case]
    people_before = InsuredPerson.objects.count()
    audit_before = AuditEvent.objects.count()

    with translation.override("zh-hans"), pytest.raises(ApplicationError) as refused:
        request_link(
            alice,
            Newcomer,
            document=SimpleUploadedFile("letter.pdf", content, content_type="application/pdf"),
        )

    assert refused.value.code == code
    assert list(refused.value.fields) == ["document"]
    message = refused.value.fields["document"][0]
    assert re.search(r"[\u4e00-\u9fff]", message), message  # said in Chinese
    assert FamilyLink.objects.count() == 0
    assert InsuredPerson.objects.count() == people_before
    assert AuditEvent.objects.count() == audit_before
    assert stored_files(private_media) == []


@pytest.mark.parametrize(
    "case",
    [
        "JPEG with a ZIP in a comment segment",
        "PNG with <svg onload> in a text chunk",
        "PDF with JavaScript run on opening",
        "PNG claiming 50000 x 50000 pixels",
    ],
)
def test_hostile_upload_through_the_page_is_a_400_naming_the_field(
    case, client_for, alice, private_media
):
    content, _code = HOSTILE[case]

    response = client_for(alice).post(
        "/family/add/", _form(document=SimpleUploadedFile("a.png", content, "image/png"))
    )

    assert response.status_code == 400
    assert response.context["form"].errors["document"]
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []


def _form(**extra) -> dict:
    return {
        "agree": "on",
        "agreement_version": "2026-11-v2",
        "name": Newcomer.name,
        "id_number": Newcomer.id_number,
        "relationship": "spouse",
        "scope_balance": "on",
        "document_kind": "commitment_letter",
        **extra,
    }


class _StreamedBody:
    """A multipart body of the form fields plus a ``size``-byte file, produced
    while it is read, so the test itself never holds it."""

    def __init__(self, boundary: str, fields: dict, size: int):
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="document"; '
            f'filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode() + b"%PDF-1.7\n"
        self.parts = [head, None, f"\r\n--{boundary}--\r\n".encode()]
        self.filler = size - 9
        self.length = len(head) + self.filler + len(self.parts[2])
        self.sent = 0

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        n = self.length - self.sent if n is None or n < 0 else n
        while len(out) < n and self.parts:
            part = self.parts[0]
            if part is None:
                take = min(n - len(out), self.filler)
                out += b"a" * take
                self.filler -= take
                if self.filler == 0:
                    self.parts.pop(0)
            else:
                take = part[: n - len(out)]
                out += take
                rest = part[len(take) :]
                if rest:
                    self.parts[0] = rest
                else:
                    self.parts.pop(0)
        self.sent += len(out)
        return bytes(out)

    def readline(self, size: int = -1) -> bytes:  # not used by the multipart parser
        return self.read(size)


class CountingHandler(FileUploadHandler):
    """Placed after the capping handler: counts what is passed on to the
    handlers that hold files (memory, temporary file)."""

    passed_on = 0

    def receive_data_chunk(self, raw_data, start):
        CountingHandler.passed_on += len(raw_data)
        return raw_data

    def file_complete(self, file_size):
        return None


def test_a_50_mb_upload_is_refused_without_being_held(client_for, alice, private_media, settings):
    handlers = list(settings.FILE_UPLOAD_HANDLERS)
    settings.FILE_UPLOAD_HANDLERS = [*handlers[:1], f"{__name__}.CountingHandler", *handlers[1:]]
    CountingHandler.passed_on = 0
    client = client_for(alice)
    boundary = "----portalboundary"
    body = _StreamedBody(boundary, _form(), 50 * 1024 * 1024)
    tracemalloc.start()
    try:
        response = client.request(
            REQUEST_METHOD="POST",
            PATH_INFO="/family/add/",
            CONTENT_TYPE=f"multipart/form-data; boundary={boundary}",
            CONTENT_LENGTH=str(body.length),
            HTTP_ACCEPT_LANGUAGE="en",
            **{"wsgi.input": body},
        )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert body.sent == body.length
    assert response.status_code == 400
    html = response.content.decode()
    assert "The file is too large (52428800 bytes); the limit is 5242880 bytes." in html
    assert peak < 20 * 1024 * 1024  # never the 50 MB in memory
    # nor on disk: past the cap, nothing reached the memory or temporary-file handlers
    assert 0 < CountingHandler.passed_on <= settings.FAMILY_UPLOAD_MAX_BYTES
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []


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
            "agreement_version": "2026-11-v2",
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
            "agreement_version": "2026-11-v2",
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


def test_a_50_mb_upload_to_the_api_is_a_400_in_the_error_shape(
    client_for, alice, private_media, settings
):
    handlers = list(settings.FILE_UPLOAD_HANDLERS)
    settings.FILE_UPLOAD_HANDLERS = [*handlers[:1], f"{__name__}.CountingHandler", *handlers[1:]]
    CountingHandler.passed_on = 0
    fields = {k: v for k, v in _form().items() if k not in ("agree", "scope_balance")}
    body = _StreamedBody(
        "----apiboundary", {**fields, "agree": "true", "scope_balance": "true"}, 50 * 1024 * 1024
    )

    response = client_for(alice).request(
        REQUEST_METHOD="POST",
        PATH_INFO="/api/v1/family/links/",
        CONTENT_TYPE="multipart/form-data; boundary=----apiboundary",
        CONTENT_LENGTH=str(body.length),
        HTTP_ACCEPT_LANGUAGE="en",
        **{"wsgi.input": body},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_too_large"
    assert list(response.json()["error"]["fields"]) == ["document"]
    assert 0 < CountingHandler.passed_on <= settings.FAMILY_UPLOAD_MAX_BYTES
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []


def _noise_image(size=(1200, 900)):
    import random

    return Image.frombytes("RGB", size, random.Random(15).randbytes(size[0] * size[1] * 3))


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "PDF"])
def test_a_large_photo_like_file_is_not_mistaken_for_another_format(kind, alice, private_media):
    # Megabytes of incompressible pixels: the signature search must not trip on them.
    out = io.BytesIO()
    if kind == "PDF":
        from fpdf import FPDF

        document = FPDF()
        document.add_page()
        document.image(_noise_image(), x=10, y=10, w=180)
        out.write(bytes(document.output()))
    else:
        _noise_image().save(out, kind, quality=95)
    content = out.getvalue()
    assert len(content) > 1_000_000

    link = request_link(alice, Newcomer, document=upload(content, "scan", "image/png"))

    assert link.document_type == {"JPEG": "image/jpeg", "PNG": "image/png"}.get(
        kind, "application/pdf"
    )
