"""Small, real sample files for upload tests."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png(extra_chunk: bytes = b"") -> bytes:
    """A valid 1x1 grey PNG (optionally with a tEXt chunk carrying ``extra_chunk``)."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr)
    if extra_chunk:
        body += _chunk(b"tEXt", b"Comment\x00" + extra_chunk)
    body += _chunk(b"IDAT", zlib.compress(b"\x00\x80"))
    return b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b"")


def jpeg() -> bytes:
    """A minimal JPEG-shaped file: SOI, a JFIF APP0 segment, some data, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return (
        b"\xff\xd8"
        + app0
        + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
        + b"\x12" * 64
        + b"\xff\xd9"
    )


def pdf(body: bytes = b"") -> bytes:
    objects = b"1 0 obj\n<< /Type /Catalog >>\nendobj\n" + body
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    xref_at = len(head) + len(objects)
    return (
        head
        + objects
        + b"xref\n0 2\n0000000000 65535 f \n0000000015 00000 n \n"
        + b"trailer\n<< /Size 2 /Root 1 0 R >>\n"
        + b"startxref\n"
        + str(xref_at).encode()
        + b"\n%%EOF\n"
    )


EXECUTABLE_PE = (
    b"MZ\x90\x00\x03\x00\x00\x00"
    + b"\x00" * 56
    + b"This program cannot be run in DOS mode.\r\n"
    + b"\x00" * 200
)
EXECUTABLE_ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 300
