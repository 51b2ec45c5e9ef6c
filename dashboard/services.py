"""Writes of the member pages: issuing certificates."""

from __future__ import annotations

from django.db import IntegrityError, transaction

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
