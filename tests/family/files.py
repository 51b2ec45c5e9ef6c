"""Small, real sample files for upload tests, and the pieces hostile ones are built from.

Good files are made by the libraries real users' software resembles: Pillow
for JPEG and PNG, fpdf2 for PDF. ``raw_pdf`` writes a small PDF by hand (with
a correct cross-reference table) so a test can put any dictionary in it.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png(extra_chunk: bytes = b"", *, size: tuple[int, int] = (1, 1)) -> bytes:
    """A valid grey PNG (optionally with a tEXt chunk carrying ``extra_chunk``)."""
    width, height = size
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr)
    if extra_chunk:
        body += _chunk(b"tEXt", b"Comment\x00" + extra_chunk)
    body += _chunk(b"IDAT", zlib.compress((b"\x00" + b"\x80" * width) * height))
    return b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b"")


def png_with_chunk(kind: bytes, data: bytes, *, base: bytes | None = None) -> bytes:
    """``base`` (a PNG) with one more chunk just before IEND."""
    base = base or pillow_png()
    at = base.rindex(b"IEND") - 4
    return base[:at] + _chunk(kind, data) + base[at:]


def png_header_only(width: int, height: int, idat: bytes) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` grey pixels, with ``idat``."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


@cache
def pillow_png(size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new(mode, size, "white")
    ImageDraw.Draw(image).rectangle((5, 5, size[0] - 5, size[1] - 5), outline="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@cache
def jpeg(size: tuple[int, int] = (40, 30)) -> bytes:
    """A real JPEG made with Pillow."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).line((0, 0, size[0], size[1]), fill="black", width=3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def jpeg_with_segment(marker: int, payload: bytes, *, base: bytes | None = None) -> bytes:
    """``base`` (a JPEG) with one more segment (e.g. 0xFE comment, 0xE1 APP1) after SOI."""
    base = base or jpeg()
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return base[:2] + segment + base[2:]


def jpeg_with_exif() -> bytes:
    """A Pillow JPEG carrying EXIF (camera, GPS position) and a comment."""
    from PIL import Image

    image = Image.new("RGB", (40, 30), "white")
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 27.0)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"taken at home")
    return out.getvalue()


@cache
def pdf() -> bytes:
    """A real one-page PDF made with fpdf2."""
    from fpdf import FPDF

    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=14)
    document.cell(text="Personal commitment letter - signed")
    return bytes(document.output())


def raw_pdf(
    *, catalog: bytes = b"", page: bytes = b"", objects: tuple[bytes, ...] = (), between=b""
) -> bytes:
    """A hand-written one-page PDF: object 1 the catalog (+ ``catalog``), 2 the
    page tree, 3 the page (+ ``page``), 4 its content, then ``objects`` as 5,
    6, ...; ``between`` is written between two objects, outside any."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R " + page + b" >>",
        b"<< /Length 21 >>\nstream\n0 0 m 100 100 l S\n\nendstream",
        *objects,
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        if number == 3:
            out += between
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1,
        xref_at,
    )
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def zip_archive() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("invoice.html", "<b>hello</b>")
    return out.getvalue()


EXECUTABLE_PE = (
    b"MZ\x90\x00\x03\x00\x00\x00"
    + b"\x00" * 56
    + b"This program cannot be run in DOS mode.\r\n"
    + b"\x00" * 200
)
# An MZ header pointing at a PE header, without the optional DOS-stub text.
EXECUTABLE_PE_BARE = (
    b"MZ"
    + b"\x00" * 58
    + struct.pack("<I", 0x80)
    + b"\x00" * 64
    + b"PE\x00\x00\x4c\x01"
    + b"\x00" * 64
)
EXECUTABLE_ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 300
EXECUTABLE_MACHO = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01\x03\x00\x00\x00" + b"\x00" * 64
RAR = b"Rar!\x1a\x07\x01\x00" + b"\x00" * 40
SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 40
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def gzip_member() -> bytes:
    import gzip

    return gzip.compress(b"#!/bin/sh\necho owned\n", mtime=0)
