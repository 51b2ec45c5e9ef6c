"""Key handling for encrypted personal data (no Django imports: settings use it).

Keys come from the environment (or ``<NAME>_FILE``) as a comma-separated list,
current key first; the embedded default is a key generated once and kept
under var/, like the secret key.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path


def split_keys(raw: str | None) -> list[str]:
    return [k.strip() for k in (raw or "").split(",") if k.strip()]


def local_fernet_key(path: Path) -> str:
    """A Fernet key (url-safe base64 of 32 random bytes) kept in ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(), "utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()
