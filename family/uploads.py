"""Supporting documents: judged by their whole content, stored outside every public URL.

A file is accepted only if its bytes are one whole PDF, JPEG or PNG and nothing
else: the client's file name and declared type are ignored. The checks, in order:

1. The size cap (``FAMILY_UPLOAD_MAX_BYTES``); ``portal.uploads`` has already
   stopped holding a larger upload while it was still arriving.
2. The whole file is scanned for the signature of another format that some
   program would open instead: executables (PE, ELF, Mach-O), archives (ZIP,
   RAR, 7z, gzip), markup (HTML, SVG, script), a PDF inside an image, and the
   EICAR anti-virus test string. Signatures are matched with enough of their
   structure that compressed image data does not trip them by chance.
3. Images are decoded with Pillow (refused above ``FAMILY_UPLOAD_MAX_PIXELS``
   before any pixel is decoded) and **re-encoded**: what is stored is the
   re-encoded copy, without metadata, comments or trailing bytes.
4. PDFs are parsed with pypdf and refused when encrypted or carrying active
   content (JavaScript, an opening action other than "go to a page",
   additional actions, launch/URI/submit/import actions, embedded files, XFA
   forms, multimedia); the renderer used for staff previews (PDFium) must
   open them. The stored file is the checked file; staff see it as images
   rendered on the server (``render_preview``).
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from portal import private_files
from portal.errors import ApplicationError

from .models import DocumentType

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"IEND\xaeB`\x82"
JPEG_SOI = b"\xff\xd8\xff"
JPEG_EOI = b"\xff\xd9"
EDGE = 1024  # bytes at the start of a PDF where a reader looks for another header
WHITESPACE = b" \t\r\n\x00\x0c"

# Signatures of other formats, searched in the whole file. Each carries enough
# of its format's structure (version bytes, flags, what follows a tag) that
# the random-looking bytes of a 5 MB compressed photo match one of them by
# chance less than once in ten thousand files.
FOREIGN = {
    "ZIP": re.compile(rb"PK\x03\x04[\x0a\x14\x2d\x33\x3f]\x00|PK\x05\x06\x00\x00\x00\x00"),
    "RAR": re.compile(rb"Rar!\x1a\x07"),
    "7z": re.compile(rb"7z\xbc\xaf\x27\x1c"),
    "gzip": re.compile(rb"\x1f\x8b\x08[\x00-\x1f].{4}[\x00\x02\x04][\x00-\x0d\xff]", re.DOTALL),
    "ELF": re.compile(rb"\x7fELF[\x01\x02][\x01\x02]\x01"),
    "Mach-O": re.compile(
        rb"\xfe\xed\xfa[\xce\xcf][\x00\x01]\x00\x00[\x07\x0c]"
        rb"|[\xce\xcf]\xfa\xed\xfe[\x07\x0c]\x00\x00[\x00\x01]"
        rb"|\xca\xfe\xba\xbe\x00\x00\x00[\x01-\x08\x2d-\x45]"
    ),
    "PE": re.compile(rb"This program cannot be run in DOS mode"),
    "GIF": re.compile(rb"GIF8[79]a"),
    "HTML": re.compile(
        rb"<(?:script|html|iframe|object|embed)[\s>/]|<svg(?:>|\s+\w)|<\?php|<!doctype\s+html"
        rb"|javascript:",
        re.IGNORECASE,
    ),
}
EICAR = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"


def max_bytes() -> int:
    return int(getattr(settings, "FAMILY_UPLOAD_MAX_BYTES", 5 * 1024 * 1024))


def max_pixels() -> int:
    return int(getattr(settings, "FAMILY_UPLOAD_MAX_PIXELS", 25_000_000))


@dataclass(frozen=True)
class CheckedDocument:
    """What is stored: for images the re-encoded copy, for PDFs the checked file."""

    content: bytes
    content_type: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)


def _refuse(message: str, code: str) -> ApplicationError:
    return ApplicationError(message, code=code, fields={"document": [message]})


def _too_large(size: int | None, cap: int) -> ApplicationError:
    if size is None:
        message = _("The file is too large; the limit is %(cap)s bytes.") % {"cap": cap}
    else:
        message = _("The file is too large (%(size)s bytes); the limit is %(cap)s bytes.") % {
            "size": size,
            "cap": cap,
        }
    return _refuse(message, "file_too_large")


def _read(upload) -> bytes:
    """Read at most the cap plus one byte, so an oversized file is never held whole."""
    cap = max_bytes()
    size = getattr(upload, "size", None)
    if size is not None and size > cap:
        raise _too_large(size, cap)
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(cap + 1)
    if len(data) > cap:
        raise _too_large(None, cap)
    return data


def _has_pe(data: bytes) -> bool:
    """An MZ header whose e_lfanew points at a "PE\\0\\0" header, anywhere."""
    for match in re.finditer(rb"MZ", data):
        at = match.start()
        lfanew = int.from_bytes(data[at + 0x3C : at + 0x40], "little")
        if 0x40 <= lfanew < 0x10000 and data[at + lfanew : at + lfanew + 4] == b"PE\x00\x00":
            return True
    return False


def foreign_format(data: bytes, *, allow: tuple[str, ...] = ()) -> str | None:
    """The name of another format whose signature occurs anywhere in ``data``."""
    for name, pattern in FOREIGN.items():
        if name not in allow and pattern.search(data):
            return name
    if "PE" not in allow and _has_pe(data):
        return "PE"
    return None


def _polyglot(kind: str, other: str) -> ApplicationError:
    return _refuse(
        _("The file is a %(kind)s but also contains a %(other)s; upload a plain PDF, JPEG or PNG.")
        % {"kind": kind, "other": other},
        "file_polyglot",
    )


def _check_whole_file(data: bytes, kind: str) -> None:
    if EICAR in data:
        raise _refuse(
            _(
                "The file contains the signature of a known virus test file (EICAR); "
                "it is not accepted."
            ),
            "file_malware",
        )
    other = foreign_format(data)
    if other:
        raise _polyglot(kind, other)
    if kind != "PDF" and PDF_MAGIC in data:
        raise _polyglot(kind, "PDF")


# --- PDF ---------------------------------------------------------------------

# Action types (/S) that run code, start programs, reach the network or other
# files, or play media: none belongs in a signed letter.
RISKY_ACTIONS = {
    "/JavaScript": "javascript",
    "/Launch": "launch",
    "/URI": "uri",
    "/SubmitForm": "submit",
    "/ImportData": "submit",
    "/GoToR": "other_file",
    "/GoToE": "other_file",
    "/RichMediaExecute": "media",
    "/Rendition": "media",
    "/Sound": "media",
    "/Movie": "media",
}
RISKY_KEYS = {
    "/JS": "javascript",
    "/JavaScript": "javascript",
    "/AA": "additional_actions",
    "/EmbeddedFiles": "embedded_file",
    "/EmbeddedFile": "embedded_file",
    "/EF": "embedded_file",
    "/XFA": "xfa",
    "/RichMediaContent": "media",
}
RISKY_SUBTYPES = {
    "/FileAttachment": "embedded_file",
    "/RichMedia": "media",
    "/Screen": "media",
    "/Movie": "media",
    "/Sound": "media",
    "/3D": "media",
}


def _active_label(what: str) -> str:
    labels = {
        "javascript": _("JavaScript"),
        "open_action": _("an action that runs when the file is opened"),
        "additional_actions": _("actions that run on page or field events"),
        "launch": _("an action that starts a program"),
        "uri": _("a web link action"),
        "submit": _("a form that sends or imports data"),
        "other_file": _("an action that opens another file"),
        "embedded_file": _("an embedded file"),
        "xfa": _("an XFA form"),
        "media": _("multimedia content"),
    }
    return labels[what]


def _active_content(what: str) -> ApplicationError:
    return _refuse(
        _(
            "The PDF contains %(what)s, which a supporting document may not carry; "
            "print it to a new PDF or scan the signed paper, and upload that."
        )
        % {"what": _active_label(what)},
        "file_active_content",
    )


def _benign_open_action(value) -> bool:
    """An opening action that only shows a page (a destination, or /GoTo one)."""
    from pypdf.generic import ArrayObject, DictionaryObject

    value = value.get_object() if value is not None else None
    if isinstance(value, ArrayObject):
        return True
    return (
        isinstance(value, DictionaryObject) and value.get("/S") == "/GoTo" and "/Next" not in value
    )


def _walk(obj, seen: set[int]) -> None:
    """Look at one object and its direct children (indirect ones are visited
    on their own, from the cross-reference table)."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    if isinstance(obj, IndirectObject) or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, DictionaryObject):
        for key, value in obj.items():
            if key in RISKY_KEYS:
                raise _active_content(RISKY_KEYS[key])
            if key == "/OpenAction" and not _benign_open_action(value):
                raise _active_content("open_action")
            if key == "/S" and value in RISKY_ACTIONS:
                raise _active_content(RISKY_ACTIONS[value])
            if key == "/Subtype" and value in RISKY_SUBTYPES:
                raise _active_content(RISKY_SUBTYPES[value])
            _walk(value, seen)
    elif isinstance(obj, ArrayObject):
        for value in obj:
            _walk(value, seen)


def _check_pdf_objects(data: bytes) -> int:
    """Parse with pypdf, refuse encryption and active content; return the page count."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError
    from pypdf.generic import IndirectObject

    corrupt = _refuse(_("The PDF is damaged and cannot be read."), "file_corrupt")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted or "/Encrypt" in reader.trailer:
            raise _refuse(
                _("The PDF is encrypted or protected by a password; upload an unprotected copy."),
                "file_encrypted",
            )
        seen: set[int] = set()
        _walk(reader.trailer, seen)
        numbers = {(num, gen) for gen, table in reader.xref.items() for num in table}
        numbers |= {(num, 0) for num in reader.xref_objStm}
        for num, gen in sorted(numbers):
            _walk(reader.get_object(IndirectObject(num, gen, reader)), seen)
        pages = len(reader.pages)
    except ApplicationError:
        raise
    except (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
    ):
        raise corrupt from None
    except Exception:  # a damaged file may make the parser fail in any way
        raise corrupt from None
    if pages < 1:
        raise _refuse(_("The PDF has no pages."), "file_corrupt")
    return pages


def _check_pdf(data: bytes) -> None:
    head = data[len(PDF_MAGIC) : EDGE]
    for name, sig in (("PNG", PNG_MAGIC), ("JPEG", JPEG_SOI)):
        if sig in head:
            raise _polyglot("PDF", name)
    if data.startswith(b"MZ"):
        raise _polyglot("PDF", "PE")
    _check_whole_file(data, "PDF")
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
    _check_pdf_objects(data)
    # The previews staff see come from PDFium: it must be able to open the file.
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        raise _refuse(_("The PDF is damaged and cannot be read."), "file_corrupt") from None
    try:
        if len(document) < 1:
            raise _refuse(_("The PDF has no pages."), "file_corrupt")
    finally:
        document.close()


# --- Images ------------------------------------------------------------------


def _reencode_image(data: bytes, kind: str) -> bytes:
    """Decode with Pillow and encode again: what comes out holds only pixels."""
    from PIL import Image, ImageOps

    corrupt = _refuse(
        _("The %(kind)s image is damaged and cannot be decoded.") % {"kind": kind}, "file_corrupt"
    )
    limit = max_pixels()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[kind])
            width, height = image.size
            if width * height > limit:
                raise _refuse(
                    _(
                        "The image is %(width)s × %(height)s pixels; the limit is %(limit)s "
                        "pixels. Upload a smaller photo or scan."
                    )
                    % {"width": width, "height": height, "limit": limit},
                    "file_too_many_pixels",
                )
            image.load()
            text = " ".join(str(v) for v in getattr(image, "text", {}).values())
            image = ImageOps.exif_transpose(image)
        except ApplicationError:
            raise
        except Image.DecompressionBombError:  # Pillow's own, far higher, limit
            raise _refuse(
                _(
                    "The image has more pixels than the limit of %(limit)s. "
                    "Upload a smaller photo or scan."
                )
                % {"limit": limit},
                "file_too_many_pixels",
            ) from None
        except Exception:  # Pillow raises many types for damaged files
            raise corrupt from None
    if text:  # compressed PNG text chunks, now decompressed
        _check_whole_file(text.encode("utf-8", "replace"), kind)
    if kind == "JPEG":
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        out_format, options = "JPEG", {"quality": 90}
    else:
        transparent = "transparency" in image.info or image.mode in ("RGBA", "LA", "PA")
        if image.mode not in ("L", "LA", "RGB", "RGBA") or "transparency" in image.info:
            image = image.convert("RGBA" if transparent else "RGB")
        out_format, options = "PNG", {}
    image.info = {}  # no EXIF, ICC profile, comments or text chunks in the copy
    buffer = io.BytesIO()
    image.save(buffer, out_format, **options)
    return buffer.getvalue()


def check_document(upload) -> CheckedDocument:
    """Read ``upload`` and return what to store, with the type judged from its bytes.

    Raises ApplicationError (field ``document``) naming what is wrong: empty,
    too large, too many pixels, not a PDF/JPEG/PNG, damaged, two formats at
    once, a virus test signature, encrypted, or active PDF content.
    """
    if upload is None:
        raise _refuse(_("Please attach the signed document."), "required")
    data = _read(upload)
    if not data:
        raise _refuse(_("The file is empty."), "file_empty")
    if data.startswith(PDF_MAGIC):
        _check_pdf(data)
        content, content_type = data, DocumentType.PDF
    elif data.startswith(PNG_MAGIC):
        _check_whole_file(data, "PNG")
        if data[12:16] != b"IHDR" or len(data) < 45:
            raise _refuse(_("The PNG image is damaged (no image header)."), "file_corrupt")
        if not data.endswith(PNG_IEND):
            if PNG_IEND in data:
                raise _polyglot("PNG", _("data after the end of the image"))
            raise _refuse(_("The PNG image is damaged or incomplete."), "file_corrupt")
        content, content_type = _reencode_image(data, "PNG"), DocumentType.PNG
    elif data.startswith(JPEG_SOI):
        _check_whole_file(data, "JPEG")
        if not data.rstrip(b"\x00").endswith(JPEG_EOI):
            raise _refuse(_("The JPEG image is damaged or incomplete."), "file_corrupt")
        content, content_type = _reencode_image(data, "JPEG"), DocumentType.JPEG
    else:
        raise _refuse(
            _("Only PDF, JPEG or PNG files are accepted; this file is none of them."),
            "file_type",
        )
    return CheckedDocument(
        content=content, content_type=content_type, sha256=hashlib.sha256(content).hexdigest()
    )


# --- Storage -------------------------------------------------------------------


def storage_dir() -> Path:
    return private_files.folder("family")


def path_of(name: str) -> Path:
    return private_files.path_in("family", name)


def store(doc: CheckedDocument) -> str:
    """Write the bytes under a random name (no extension from the client); return the name."""
    return private_files.write("family", doc.content)


def discard(name: str) -> None:
    path_of(name).unlink(missing_ok=True)


# --- Previews for staff ----------------------------------------------------------


def preview_max_pages() -> int:
    return int(getattr(settings, "FAMILY_PREVIEW_MAX_PAGES", 5))


def preview_dpi() -> int:
    return int(getattr(settings, "FAMILY_PREVIEW_DPI", 100))


class PreviewError(Exception):
    """PDFium could not open a stored PDF."""


PREVIEW_MAX_SIDE = 2000  # pixels: a page with an absurd size is scaled down to this
PREVIEW_GAP = 12  # pixels of grey between pages


def render_preview(name: str) -> bytes:
    """The first pages of a stored PDF as one PNG (pages one below the other).

    PDFium renders without a form environment, so no document code runs; at
    most ``FAMILY_PREVIEW_MAX_PAGES`` pages at ``FAMILY_PREVIEW_DPI``, each
    page's longer side at most PREVIEW_MAX_SIDE pixels.
    """
    import pypdfium2 as pdfium
    from PIL import Image

    path = path_of(name)
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if not path.exists():
            raise FileNotFoundError(path) from None
        raise PreviewError(str(exc)) from None
    try:
        images = []
        for index in range(min(len(document), preview_max_pages())):
            page = document[index]
            width, height = page.get_size()
            scale = min(preview_dpi() / 72, PREVIEW_MAX_SIDE / max(width, height, 1))
            images.append(page.render(scale=scale, may_draw_forms=False).to_pil().convert("RGB"))
            page.close()
    finally:
        document.close()
    width = max(i.width for i in images)
    height = sum(i.height for i in images) + PREVIEW_GAP * (len(images) - 1)
    sheet = Image.new("RGB", (width, height), (200, 200, 200))
    top = 0
    for image in images:
        sheet.paste(image, ((width - image.width) // 2, top))
        top += image.height + PREVIEW_GAP
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG")
    return buffer.getvalue()
