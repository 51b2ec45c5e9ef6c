"""A corpus of hostile uploads, built here from scratch (no file is checked in).

Each entry: name -> (bytes, the refusal code expected). Every one of them must
be refused with a translated reason and leave nothing behind.
"""

from __future__ import annotations

import io
import zlib

from . import files as f


def _encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(f.pdf())))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pypdf_javascript() -> bytes:
    """What a real tool makes: the fpdf2 letter with document JavaScript added by pypdf."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(f.pdf())))
    action = writer._add_object(
        DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject("app.alert('hi');"),
            }
        )
    )
    names = DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject("hello"), action])}
    )
    writer._root_object[NameObject("/Names")] = DictionaryObject(
        {NameObject("/JavaScript"): writer._add_object(names)}
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pypdf_attachment() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(f.pdf())))
    writer.add_attachment("notes.txt", b"plain words")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _jpeg_sof_claims(width: int, height: int) -> bytes:
    data = bytearray(f.jpeg())
    at = data.index(b"\xff\xc0") + 5  # marker, length (2), precision (1)
    data[at : at + 4] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def _pixel_flood_png() -> bytes:
    # 6000 x 6000 grey: a 36-megapixel image in a ~40 kB file.
    row = b"\x00" + b"\x00" * 6000
    return f.png_header_only(6000, 6000, zlib.compress(row * 6000, 9))


def build() -> dict[str, tuple[bytes, str]]:
    link_annot = b"<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] /A %s >>"
    return {
        # --- images carrying another format -----------------------------------
        "JPEG with a ZIP in a comment segment": (
            f.jpeg_with_segment(0xFE, f.zip_archive()),
            "file_polyglot",
        ),
        "JPEG with a ZIP after its end": (f.jpeg() + f.zip_archive(), "file_polyglot"),
        "JPEG with a PE executable in APP1": (
            f.jpeg_with_segment(0xE1, f.EXECUTABLE_PE_BARE),
            "file_polyglot",
        ),
        "JPEG with a RAR archive in APP9": (f.jpeg_with_segment(0xE9, f.RAR), "file_polyglot"),
        "JPEG with a gzip stream in a comment": (
            f.jpeg_with_segment(0xFE, f.gzip_member()),
            "file_polyglot",
        ),
        "JPEG with the EICAR string": (f.jpeg_with_segment(0xFE, f.EICAR), "file_malware"),
        "JPEG with HTML in a comment": (
            f.jpeg_with_segment(0xFE, b"<html><body onload=alert(1)>"),
            "file_polyglot",
        ),
        "PNG with <svg onload> in a text chunk": (
            f.png_with_chunk(b"tEXt", b"Comment\x00<svg onload=alert(1)>"),
            "file_polyglot",
        ),
        "PNG with a script in a compressed text chunk": (
            f.png_with_chunk(
                b"zTXt", b"Comment\x00\x00" + zlib.compress(b"<script>alert(1)</script>")
            ),
            "file_polyglot",
        ),
        "PNG with HTML after IEND": (
            f.pillow_png() + b"<html><script>alert(1)</script>",
            "file_polyglot",
        ),
        "PNG with an ELF executable in a private chunk": (
            f.png_with_chunk(b"prVt", f.EXECUTABLE_ELF),
            "file_polyglot",
        ),
        "PNG with a Mach-O executable": (
            f.png_with_chunk(b"prVt", f.EXECUTABLE_MACHO),
            "file_polyglot",
        ),
        "PNG with a 7z archive": (f.png_with_chunk(b"prVt", f.SEVEN_ZIP), "file_polyglot"),
        "PNG with a PDF in a text chunk": (
            f.png_with_chunk(b"tEXt", b"Comment\x00" + f.pdf()),
            "file_polyglot",
        ),
        "PNG with the EICAR string": (
            f.png_with_chunk(b"tEXt", b"Comment\x00" + f.EICAR),
            "file_malware",
        ),
        # --- decompression bombs and damaged pixels ------------------------------
        "PNG claiming 50000 x 50000 pixels": (
            f.png_header_only(50000, 50000, zlib.compress(b"\x00" * 1024)),
            "file_too_many_pixels",
        ),
        "PNG pixel flood (36 megapixels in 40 kB)": (_pixel_flood_png(), "file_too_many_pixels"),
        "JPEG claiming 65000 x 65000 pixels": (
            _jpeg_sof_claims(65000, 65000),
            "file_too_many_pixels",
        ),
        "PNG with undecodable pixel data": (
            f.png_header_only(10, 10, b"\x78\x9c" + b"\xde\xad\xbe\xef" * 8),
            "file_corrupt",
        ),
        "JPEG with its header torn out": (
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x11" * 200 + b"\xff\xd9",
            "file_corrupt",
        ),
        # --- PDFs carrying another format ----------------------------------------
        "PDF with a ZIP between its objects": (
            f.raw_pdf(between=f.zip_archive()),
            "file_polyglot",
        ),
        "PDF with a ZIP directory at its end": (
            f.raw_pdf(between=b"% PK\x05\x06" + b"\x00" * 18 + b"\n"),
            "file_polyglot",
        ),
        "PDF with a PE executable in a stream": (
            f.raw_pdf(objects=(f.stream(f.EXECUTABLE_PE_BARE),)),
            "file_polyglot",
        ),
        "PDF with an ELF executable in a stream": (
            f.raw_pdf(objects=(f.stream(f.EXECUTABLE_ELF),)),
            "file_polyglot",
        ),
        "PDF that is also an HTML page": (
            f.raw_pdf(between=b"%<html><script>alert(document.cookie)</script>\n"),
            "file_polyglot",
        ),
        "PDF with the EICAR string": (
            f.raw_pdf(objects=(f.stream(f.EICAR),)),
            "file_malware",
        ),
        "PDF starting with a PNG signature": (
            b"%PDF-1.4\n\x89PNG\r\n\x1a\n" + f.pdf()[9:],
            "file_polyglot",
        ),
        # --- PDFs with active content --------------------------------------------
        "PDF with JavaScript run on opening": (
            f.raw_pdf(catalog=b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"),
            "file_active_content",
        ),
        "PDF with document JavaScript (added by pypdf)": (
            _pypdf_javascript(),
            "file_active_content",
        ),
        "PDF with a hex-escaped /JavaScript name": (
            f.raw_pdf(catalog=b"/OpenAction 5 0 R", objects=(b"<< /S /J#61vaScript /J#53 (1) >>",)),
            "file_active_content",
        ),
        "PDF with JavaScript in a compressed stream": (
            f.raw_pdf(
                catalog=b"/OpenAction << /S /JavaScript /JS 5 0 R >>",
                objects=(f.stream(zlib.compress(b"app.alert(1)"), b"/Filter /FlateDecode"),),
            ),
            "file_active_content",
        ),
        "PDF launching a program on opening": (
            f.raw_pdf(catalog=b"/OpenAction << /S /Launch /F (cmd.exe) >>"),
            "file_active_content",
        ),
        "PDF with page additional actions": (
            f.raw_pdf(page=b"/AA << /O << /S /GoTo /D [3 0 R /Fit] >> >>"),
            "file_active_content",
        ),
        "PDF with document additional actions": (
            f.raw_pdf(catalog=b"/AA << /WC << /S /GoTo /D [3 0 R /Fit] >> >>"),
            "file_active_content",
        ),
        "PDF with an embedded file (added by pypdf)": (
            _pypdf_attachment(),
            "file_active_content",
        ),
        "PDF with a file-attachment annotation": (
            f.raw_pdf(
                page=b"/Annots [5 0 R]",
                objects=(
                    b"<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 10 10] "
                    b"/FS << /Type /Filespec /F (a.txt) >> >>",
                ),
            ),
            "file_active_content",
        ),
        "PDF with a link that launches a program": (
            f.raw_pdf(
                page=b"/Annots [5 0 R]",
                objects=(link_annot % b"<< /S /Launch /F (calc.exe) >>",),
            ),
            "file_active_content",
        ),
        "PDF with a web link action": (
            f.raw_pdf(
                page=b"/Annots [5 0 R]",
                objects=(link_annot % b"<< /S /URI /URI (https://evil.example/) >>",),
            ),
            "file_active_content",
        ),
        "PDF with a form that submits data": (
            f.raw_pdf(
                page=b"/Annots [5 0 R]",
                objects=(link_annot % b"<< /S /SubmitForm /F (https://evil.example/) >>",),
            ),
            "file_active_content",
        ),
        "PDF opening another PDF": (
            f.raw_pdf(catalog=b"/OpenAction << /S /GoToR /F (other.pdf) /D [0 /Fit] >>"),
            "file_active_content",
        ),
        "PDF with an XFA form": (
            f.raw_pdf(catalog=b"/AcroForm << /Fields [] /XFA 5 0 R >>", objects=(f.stream(b"x"),)),
            "file_active_content",
        ),
        "PDF with a rich-media annotation": (
            f.raw_pdf(
                page=b"/Annots [5 0 R]",
                objects=(b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 10 10] >>",),
            ),
            "file_active_content",
        ),
        "encrypted PDF (empty user password)": (_encrypted_pdf(), "file_encrypted"),
        # --- not a PDF, JPEG or PNG at all -------------------------------------------
        "ZIP named as PDF": (f.zip_archive(), "file_type"),
        "GIF named as PNG": (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "file_type"),
        "SVG named as PNG": (
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "file_type",
        ),
        "bare PE executable named as PDF": (f.EXECUTABLE_PE_BARE, "file_type"),
    }
