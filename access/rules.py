"""Pure predicates: no query of their own, the same answer for pages, API,
PDFs and the money-moving services.

Scopes a viewer can hold on a person:
- ``balance``: the personal-account balance;
- ``records``: payment record (contributions) and expenses;
- ``pay``: pay one's own expenses from the person's prior-years surplus
  (family mutual assistance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from portal.security import user_is_verified_staff

if TYPE_CHECKING:
    from family.models import FamilyLink
    from members.models import InsuredPerson

    from .viewer import Viewer


class Scope(models.TextChoices):
    BALANCE = "balance", "balance"
    RECORDS = "records", "records"
    PAY = "pay", "pay"
    # File cross-region treatment and chronic-disease applications for the
    # person, and follow them (errands/, ADR 0019).
    ERRANDS = "errands", "errands"


ALL_SCOPES = (Scope.BALANCE, Scope.RECORDS, Scope.PAY, Scope.ERRANDS)
# What verified staff hold on any person: they read, they never pay.
STAFF_SCOPES = frozenset({Scope.BALANCE, Scope.RECORDS})


def is_verified_staff(viewer: Viewer) -> bool:
    """The one staff test for member data: a staff account whose session
    passed the one-time code (portal.security). A staff password, an API
    token or a member account flagged staff alone opens nothing."""
    return user_is_verified_staff(viewer.user)


def is_staff_account(user) -> bool:
    """The account's staff flag as such: for the sign-in machinery and for
    showing the way to the staff pages (which then ask for the code). Never a
    reason to show anybody's data: use ``is_verified_staff``."""
    return bool(getattr(user, "is_staff", False))


def sharing_may_cross_province(member: InsuredPerson) -> bool:
    """Whether the member's region lets the prior-years surplus pay for
    relatives insured in another province today: the family relationship
    policy in force for the region (policy data, ADR 0017)."""
    from family.policy import sharing_may_cross_province as policy_allows

    return policy_allows(member)


def pay_eligible(link: FamilyLink) -> bool:
    """May ``link.relative`` pay from ``link.member``'s prior-years surplus?

    ``link`` must be a link in effect (``FamilyLink.objects.in_effect()``).
    Yes when it grants ``pay``, the member has a personal account (employee
    scheme: in service or retired), and both are insured in the same province
    unless the member's region allows more. Pages, the API, the e-certificate
    and the claim that moves the money all ask this one function."""
    return bool(link.scope_pay) and pay_refusal(link.member, link.relative) is None


def pay_refusal(member: InsuredPerson, relative: InsuredPerson) -> str | None:
    """Why ``relative`` may not pay from ``member``'s surplus ("no_account",
    "province"), or None: the reasons behind ``pay_eligible``, for a form."""
    if not member.has_personal_account:
        return "no_account"
    if member.province_code != relative.province_code and not sharing_may_cross_province(member):
        return "province"
    return None
