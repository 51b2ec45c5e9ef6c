from __future__ import annotations

from collections.abc import Iterable

from .crypto import id_number_hashes
from .idnumber import looks_like_id_number, normalise
from .models import InsuredPerson, User

_CHUNK = 5000


def person_by_id_number(id_number: str) -> InsuredPerson | None:
    """The one place that looks a person up by identity number.

    Numbers are stored encrypted; the look-up goes through the keyed hash
    (under every configured hash key, so it keeps working during a rotation).
    Accepts a lowercase ``x`` and surrounding ASCII spaces; anything not
    shaped like a number (full-width digits, other scripts) finds nobody."""
    if not looks_like_id_number(id_number):
        return None
    value = normalise(id_number)
    return InsuredPerson.objects.filter(id_number_hash__in=id_number_hashes(value)).first()


def persons_by_id_numbers(id_numbers: Iterable[str]) -> dict[str, InsuredPerson]:
    """Bulk form of ``person_by_id_number``: ``{normalised number: person}``
    for the numbers that belong to someone (absent ones are left out), e.g.
    for a contribution import. Chunked queries on the look-up hash, so a
    million-row import costs a few hundred queries, not a million."""
    by_hash: dict[str, str] = {}
    for raw in id_numbers:
        value = normalise(raw)
        if looks_like_id_number(value):
            for digest in id_number_hashes(value):
                by_hash[digest] = value
    digests = sorted(by_hash)
    found: dict[str, InsuredPerson] = {}
    for start in range(0, len(digests), _CHUNK):
        chunk = digests[start : start + _CHUNK]
        for person in InsuredPerson.objects.filter(id_number_hash__in=chunk):
            found[by_hash[person.id_number_hash]] = person
    return found


def person_for_user(user: User) -> InsuredPerson | None:
    """The person behind a signed-in user (None for staff without one).

    Free when the user came from the session: the auth backend loads
    ``user.person`` in the same query."""
    if not user.is_authenticated:
        return None
    try:
        return user.person
    except InsuredPerson.DoesNotExist:
        return None
