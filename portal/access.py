"""The one permission layer for member-owned data (pages and API alike).

Every view or API that shows a person's balance, contributions, expenses or
identity number gets the person through ``person_for_viewer``; nothing looks
up member-owned data by a bare id. Access by anyone but the owner is recorded
in the audit trail.

Scopes a viewer can hold on a person:
- ``balance``: the personal-account balance;
- ``records``: payment record (contributions) and expenses;
- ``pay``: pay expenses from the person's prior-years surplus (mutual assistance).

Who holds them: the owner holds all; staff whose session passed the TOTP
check hold ``balance`` and ``records`` (and every access is audited); a
relative holds what an approved family link grants (see ``family``; until that
app registers its rule, nobody else holds any).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import models
from django.http import Http404

from audit.services import audit_record
from members.models import InsuredPerson

from .security import user_is_verified


class Scope(models.TextChoices):
    BALANCE = "balance", "balance"
    RECORDS = "records", "records"
    PAY = "pay", "pay"


# Extra rules (e.g. family links): f(user, person, scope) -> bool.
_RULES: list[Callable] = []


def register_rule(rule: Callable) -> Callable:
    if rule not in _RULES:
        _RULES.append(rule)
    return rule


def can_view(user, person: InsuredPerson, scope: str) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if person.user_id is not None and person.user_id == user.pk:
        return True
    # Staff only with a session that passed the TOTP check (portal.security):
    # a password or an API token alone does not open other people's records.
    if user.is_staff and scope in (Scope.BALANCE, Scope.RECORDS) and user_is_verified(user):
        return True
    return any(rule(user, person, scope) for rule in _RULES)


def person_for_viewer(user, person_id, *, scope: str, request=None) -> InsuredPerson:
    """The person with ``person_id`` if ``user`` holds ``scope`` on them.

    Raises Http404 otherwise (a stranger learns nothing, not even that the
    person exists). Records an audit event when the viewer is not the owner.
    """
    try:
        person = InsuredPerson.objects.get(pk=int(person_id))
    except (InsuredPerson.DoesNotExist, TypeError, ValueError):
        raise Http404 from None
    if not can_view(user, person, scope):
        raise Http404
    if person.user_id != user.pk:
        audit_record(
            actor=user,
            action=f"person.{scope}.view",
            subject_person=person,
            target=person,
            request=request,
        )
    return person
