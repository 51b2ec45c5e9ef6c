"""Supporting documents: judged by their content, stored outside every public URL.

A file is accepted only if its bytes are one whole PDF, JPEG or PNG and nothing
else: the client's file name and declared type are ignored. Files that carry
the signature of a second format (a PDF inside a PNG, a ZIP appended to a PDF,
an executable header) are refused, so nobody can smuggle content that another
program would open differently.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from portal.errors import ApplicationError

from .models import DocumentType

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"IEND\xaeB`\x82"
JPEG_SOI = b"\xff\xd8\xff"
JPEG_EOI = b"\xff\xd9"
# Signatures of other formats that must not appear where a reader would find them.
FOREIGN = {
    "ZIP": (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"),
    "ELF": (b"\x7fELF",),
    "PE": (b"This program cannot be run in DOS mode",),
    "RAR": (b"Rar!\x1a\x07",),
    "7z": (b"7z\xbc\xaf\x27\x1c",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "HTML": (b"<html", b"<script", b"<svg"),
}
EDGE = 1024  # bytes at each end where readers look for a header or trailer
WHITESPACE = b" \t\r\n\x00\x0c"


def max_bytes() -> int:
    return int(getattr(settings, "FAMILY_UPLOAD_MAX_BYTES", 5 * 1024 * 1024))


@dataclass(frozen=True)
class CheckedDocument:
    content: bytes
    content_type: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)


def _refuse(message: str, code: str) -> ApplicationError:
    return ApplicationError(message, code=code, fields={"document": [message]})


def _read(upload) -> bytes:
    """Read at most the cap plus one byte, so an oversized file is never held whole."""
    cap = max_bytes()
    size = getattr(upload, "size", None)
    if size is not None and size > cap:
        raise _refuse(
            _("The file is too large (%(size)s bytes); the limit is %(cap)s bytes.")
            % {"size": size, "cap": cap},
            "file_too_large",
        )
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(cap + 1)
    if len(data) > cap:
        raise _refuse(
            _("The file is too large; the limit is %(cap)s bytes.") % {"cap": cap},
            "file_too_large",
        )
    return data


def _edges(data: bytes) -> bytes:
    return data[:EDGE] + b"\n" + data[-EDGE:]


def _foreign_in(region: bytes, *, skip: tuple[str, ...] = ()) -> str | None:
    lowered = region.lower()
    for name, sigs in FOREIGN.items():
        if name in skip:
            continue
        for sig in sigs:
            if (sig.lower() in lowered) if name == "HTML" else (sig in region):
                return name
    return None


def _polyglot(kind: str, other: str) -> ApplicationError:
    return _refuse(
        _("The file is a %(kind)s but also contains a %(other)s; upload a plain PDF, JPEG or PNG.")
        % {"kind": kind, "other": other},
        "file_polyglot",
    )


def _check_pdf(data: bytes) -> None:
    tail = data.rstrip(WHITESPACE)
    if not tail.endswith(b"%%EOF"):
        raise _refuse(
            _("The PDF is damaged or incomplete (its end-of-file marker is missing)."),
            "file_corrupt",
        )
    has_table = b"xref" in data.replace(b"startxref", b"") or b"/XRef" in data
    if b"startxref" not in data[-EDGE * 2 :] or not has_table:
        raise _refuse(
            _("The PDF is damaged or incomplete (its cross-reference table is missing)."),
            "file_corrupt",
        )
    head = data[len(PDF_MAGIC) : EDGE]
    for name, sigs in (("PNG", (PNG_MAGIC,)), ("JPEG", (JPEG_SOI,))):
        if any(data.startswith(s) or s in head for s in sigs):
            raise _polyglot("PDF", name)
    if data.startswith(b"MZ"):
        raise _polyglot("PDF", "PE")
    other = _foreign_in(_edges(data))
    if other:
        raise _polyglot("PDF", other)


def _check_image(data: bytes, kind: str) -> None:
    if PDF_MAGIC in data:
        raise _polyglot(kind, "PDF")
    other = _foreign_in(_edges(data))
    if other:
        raise _polyglot(kind, other)


def check_document(upload) -> CheckedDocument:
    """Read ``upload`` and return its bytes with the type judged from them.

    Raises ApplicationError (field ``document``) naming what is wrong: empty,
    too large, not a PDF/JPEG/PNG, damaged, or two formats at once.
    """
    if upload is None:
        raise _refuse(_("Please attach the signed document."), "required")
    data = _read(upload)
    if not data:
        raise _refuse(_("The file is empty."), "file_empty")
    if data.startswith(PDF_MAGIC):
        _check_pdf(data)
        content_type = DocumentType.PDF
    elif data.startswith(PNG_MAGIC):
        if data[12:16] != b"IHDR" or len(data) < 45:
            raise _refuse(_("The PNG image is damaged (no image header)."), "file_corrupt")
        if not data.endswith(PNG_IEND):
            if PNG_IEND in data:
                raise _polyglot("PNG", _("data after the end of the image"))
            raise _refuse(_("The PNG image is damaged or incomplete."), "file_corrupt")
        _check_image(data, "PNG")
        content_type = DocumentType.PNG
    elif data.startswith(JPEG_SOI):
        if not data.endswith(JPEG_EOI):
            raise _refuse(_("The JPEG image is damaged or incomplete."), "file_corrupt")
        _check_image(data, "JPEG")
        content_type = DocumentType.JPEG
    else:
        raise _refuse(
            _("Only PDF, JPEG or PNG files are accepted; this file is none of them."),
            "file_type",
        )
    return CheckedDocument(
        content=data, content_type=content_type, sha256=hashlib.sha256(data).hexdigest()
    )


def storage_dir() -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT) / "family"


def path_of(name: str) -> Path:
    if not name or not all(c in "0123456789abcdef" for c in name):
        raise ValueError("bad document name")
    return storage_dir() / name


def store(doc: CheckedDocument) -> str:
    """Write the bytes under a random name (no extension from the client); return the name."""
    directory = storage_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = secrets.token_hex(24)
    tmp = directory / f".{name}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(doc.content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return name


def discard(name: str) -> None:
    path_of(name).unlink(missing_ok=True)
