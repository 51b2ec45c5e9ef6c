from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from .idnumber import parse_id_number
from .models import InsuranceType, InsuredPerson, User
from .selectors import person_by_id_number


@transaction.atomic
def person_create(
    *,
    id_number: str,
    name: str,
    insurance_type: str = InsuranceType.EMPLOYEE,
    insured_region: str | None = None,
    user: User | None = None,
) -> InsuredPerson:
    """Validate the identity number, derive birth date and sex, store the person.

    ``insured_region`` defaults to the region code in the number.
    """
    number = parse_id_number(id_number)
    person = InsuredPerson(
        id_number=number.value,
        name=name.strip(),
        birth_date=number.birth_date,
        sex=number.sex,
        insurance_type=insurance_type,
        insured_region=insured_region or number.region_code,
        user=user,
    )
    if person_by_id_number(number.value) is not None:
        raise ValidationError(
            {"id_number": [_("A person with this identity number is already registered.")]},
            code="unique",
        )
    # The unique hash column is checked just above with a clear message (and by
    # the database, should two registrations race).
    person.full_clean(exclude=["id_number_encrypted", "id_number_hash"])
    person.save()
    return person


@transaction.atomic
def member_user_create(
    *,
    person: InsuredPerson,
    password: str,
    phone: str | None = None,
    email: str = "",
) -> User:
    """Give an insured person a sign-in. The username is internal; members sign
    in with their identity number or phone."""
    user = User(username=f"m{person.pk}", phone=phone or None, email=email)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    person.user = user
    person.save(update_fields=["user"])
    return user
