from __future__ import annotations

from .idnumber import normalise
from .models import InsuredPerson, User


def person_by_id_number(id_number: str) -> InsuredPerson | None:
    """The one place that looks a person up by identity number (so the storage
    of the number can change without touching callers)."""
    return InsuredPerson.objects.filter(id_number=normalise(id_number)).first()


def person_for_user(user: User) -> InsuredPerson | None:
    if not user.is_authenticated:
        return None
    return InsuredPerson.objects.filter(user=user).first()
