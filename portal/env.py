"""Reading configuration from the environment.

Every setting comes from one ``environ.Env`` object; a secret may also be read
from a file named by ``<NAME>_FILE`` (for Docker/Kubernetes secrets).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ

env = environ.Env()


def env_secret(name: str, default: str | None = None) -> str | None:
    """Return NAME from the environment, or the contents of the file NAME_FILE."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)


def local_secret(path: Path) -> str:
    """A random secret kept under var/ so the embedded default survives restarts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def env_threshold(name: str, default: int) -> int | None:
    """A count from NAME (a whole number, 0 or more), or None for ``off``;
    anything else stops the start with the setting's name and what it takes."""
    from django.core.exceptions import ImproperlyConfigured

    raw = os.environ.get(name, str(default)).strip().lower()
    if raw in ("off", "none"):
        return None
    if not raw.isascii() or not raw.isdigit():
        raise ImproperlyConfigured(f"{name} is a whole number of 0 or more, or off (got {raw!r})")
    return int(raw)
