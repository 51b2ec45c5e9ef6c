"""Writes of the member pages: issuing certificates, compacting read versions."""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction

from members.models import InsuredPerson

from .certificates import new_code
from .models import IssuedCertificate


def certificate_issue(
    *, person: InsuredPerson, kind: str, content: dict, issued_by=None
) -> IssuedCertificate:
    """Record a certificate under a new code (a collision, about one in 10^20,
    draws another)."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return IssuedCertificate.objects.create(
                    code=new_code(),
                    kind=kind,
                    person=person,
                    issued_by=issued_by,
                    content=content,
                )
        except IntegrityError:
            continue
    raise RuntimeError("could not draw a free certificate code")


# The next persons with more than one row, in person order after a cursor:
# read along the (person_id, weight) index, stopping after ``batch`` of
# them, so a fold never rescans the persons already folded.
_MANY = """
SELECT person_id FROM dashboard_readbump WHERE person_id > %s
GROUP BY person_id HAVING count(*) > 1 ORDER BY person_id LIMIT %s
"""
_FOLD = """
WITH gone AS (
    DELETE FROM dashboard_readbump WHERE person_id = ANY(%s) RETURNING person_id, weight
)
INSERT INTO dashboard_readbump (person_id, weight)
SELECT person_id, sum(weight) FROM gone GROUP BY person_id
"""


def compact_read_versions(*, batch: int = 50_000) -> int:
    """Fold the read-version rows of up to ``batch`` persons at a time into
    one row each with the same sum, in person order, once over the table;
    returns how many persons were folded. A person's version (the sum) never
    changes, and a row appended meanwhile is kept as it is: one statement
    deletes and re-inserts, and a concurrent fold deletes only rows that
    still exist. Rows appended behind the cursor wait for the next run.
    PostgreSQL only (the SQLite demo keeps no versions)."""
    if connection.vendor != "postgresql":
        return 0
    folded, after = 0, -1
    while True:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(_MANY, [after, batch])
            persons = [row[0] for row in cur.fetchall()]
            if persons:
                cur.execute(_FOLD, [persons])
        folded += len(persons)
        if len(persons) < batch:
            return folded
        after = persons[-1]
