"""Errand documents: judged by the family uploads' hardened checks
(``family.uploads.check_document``: type from the bytes, size and pixel caps,
polyglots, active PDF content, images re-encoded) and kept in private storage
under ``PRIVATE_MEDIA_ROOT/errands`` with a random name."""

from __future__ import annotations

from pathlib import Path

from family.uploads import CheckedDocument, check_document  # noqa: F401 (re-exported)
from portal import private_files

KIND = "errands"


def path_of(name: str) -> Path:
    return private_files.path_in(KIND, name)


def store(doc: CheckedDocument) -> str:
    return private_files.write(KIND, doc.content)


def discard(name: str) -> None:
    if name:
        path_of(name).unlink(missing_ok=True)
