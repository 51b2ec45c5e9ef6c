from __future__ import annotations

from collections.abc import Iterable

from portal.prepared import prepared_cursor

from .crypto import id_number_hashes
from .idnumber import looks_like_id_number, normalise
from .models import InsuredPerson, MemberToken, User

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
    hashes = list(id_number_hashes(value))
    from portal.replica import reading

    connection = reading(InsuredPerson)
    if connection.vendor != "postgresql":  # the SQLite demo: its dates need the ORM
        return InsuredPerson.objects.filter(id_number_hash__in=hashes).first()
    # Plain SQL on the hash index: asked on every expense submission, where
    # compiling the ORM's query cost more than running it. The same row and
    # instance as ``.filter(...).first()`` (no field of a person converts
    # what PostgreSQL returns; a test holds the two equal).
    with prepared_cursor(connection) as cursor:
        cursor.execute(_PERSON_BY_HASH_SQL, [hashes])
        row = cursor.fetchone()
    return person_from_row(connection.alias, row, value) if row is not None else None


def person_from_row(alias: str, row, id_number: str) -> InsuredPerson:
    """The person of a row of ``PERSON_COLUMNS`` found by the keyed hash of
    ``id_number`` (normalised): it is the number the row holds, so the
    instance keeps it and need not decrypt it again to show or mask it."""
    person = InsuredPerson.from_db(alias, _PERSON_FIELDS, row)
    person.__dict__["_id_number_plain"] = id_number
    return person


_PERSON_FIELDS = [f.attname for f in InsuredPerson._meta.concrete_fields]
# A person's columns in the order ``person_from_row`` takes them.
PERSON_COLUMNS = [str(f.column) for f in InsuredPerson._meta.concrete_fields]
_PERSON_BY_HASH_SQL = (
    "SELECT {} FROM {} WHERE id_number_hash = ANY(%s::text[]) ORDER BY id LIMIT 1".format(  # noqa: S608
        ", ".join(PERSON_COLUMNS), InsuredPerson._meta.db_table
    )
)


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


def live_member_token(key_sha256: str) -> MemberToken | None:
    """The token with this hash if it is neither expired nor revoked."""
    from django.utils import timezone

    return (
        MemberToken.objects.filter(
            key_sha256=key_sha256, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .only("pk", "user_id", "expires_at")
        .first()
    )
