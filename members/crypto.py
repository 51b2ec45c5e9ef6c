"""Identity numbers at rest: encrypted, plus a keyed hash for look-ups.

- ``id_number_encrypted``: Fernet (AES-128-CBC + HMAC-SHA256) under the keys in
  ``settings.ID_NUMBER_KEYS`` (env ``ID_NUMBER_KEYS``, comma-separated, first
  is current; older keys still decrypt until ``rotate_id_number_keys`` has
  re-encrypted everything with the first).
- ``id_number_hash``: HMAC-SHA256 of the normalised number under
  ``settings.ID_NUMBER_HASH_KEYS[0]`` (a separate key, so the look-up column
  cannot be brute-forced over the ~10^11 valid numbers without it). Older
  hash keys are still tried on look-up until rotation re-hashes.

See docs/adr/0004-personal-data.md.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from .idnumber import normalise


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise RuntimeError("No ID_NUMBER_KEYS configured")
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.ID_NUMBER_KEYS))


def current_fernet() -> Fernet:
    return Fernet(settings.ID_NUMBER_KEYS[0].encode())


def hash_keys() -> list[str]:
    return list(settings.ID_NUMBER_HASH_KEYS)


def id_number_hash(value: str, *, key: str | None = None) -> str:
    """The look-up hash of a (raw or normalised) identity number."""
    key = key or hash_keys()[0]
    return hmac.new(key.encode(), normalise(value).encode(), hashlib.sha256).hexdigest()


def id_number_hashes(value: str) -> list[str]:
    """The number's hash under every configured hash key (current first)."""
    return [id_number_hash(value, key=k) for k in hash_keys()]


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise InvalidToken(
            "An identity number cannot be decrypted with any key in ID_NUMBER_KEYS "
            "(was a key dropped before `manage.py rotate_id_number_keys` finished?)"
        ) from None


def encrypt_id_number(value: str) -> tuple[str, str]:
    """(ciphertext, hash) of a normalised identity number, for bulk loading
    (e.g. COPY into members_insuredperson)."""
    value = normalise(value)
    return encrypt(value), id_number_hash(value)


def is_current(token: str) -> bool:
    """True when ``token`` is already encrypted under the current key."""
    try:
        current_fernet().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    return fernet().rotate(token.encode()).decode()
