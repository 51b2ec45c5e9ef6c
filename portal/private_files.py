"""Files kept outside every public URL (under ``PRIVATE_MEDIA_ROOT``): family
documents, import reports. One way to name, write and find them: a random
hexadecimal name (nothing from the client), written to a temporary file with
mode 0600, synced and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings


def folder(kind: str) -> Path:
    """``PRIVATE_MEDIA_ROOT/<kind>`` (``family``, ``imports``)."""
    return Path(settings.PRIVATE_MEDIA_ROOT) / kind


def path_in(kind: str, name: str) -> Path:
    """The path of a stored file; ``ValueError`` for a name we did not make
    (so no name can climb out of the folder)."""
    if not name or not all(c in "0123456789abcdef" for c in name):
        raise ValueError(f"bad {kind} file name")
    return folder(kind) / name


def write(kind: str, content: bytes) -> str:
    """Store ``content`` under a new random name in ``kind``; return the name."""
    directory = folder(kind)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = secrets.token_hex(24)
    tmp = directory / f".{name}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return name
