"""Paying a relative's urban-rural resident-scheme contribution from a
member's prior-years surplus (the July 2024 national rules; docs/adr/0018).

Reads (what may be paid, what was paid) and the one write,
``resident_contribution_pay``. The rules, each refused with its own reason:

- the member has a personal account (employee or retiree) and an in-effect
  family link to the relative granting ``pay`` (the member authorised mutual
  assistance for them), with the relative insured in the member's province;
- the relative is insured under the urban-rural resident scheme;
- the year is this year or the next, and the policy of the relative's region
  gives an individual contribution for it (``PolicyYear.resident_individual_fen``);
- nobody paid that year yet (through the portal, or a live contribution record
  of the relative in that year from the register);
- the member's prior-years surplus covers the amount.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from access.rules import pay_refusal
from accounts.models import AccountKind, LedgerAccount
from accounts.services import ledger_post, member_pockets, system_account
from audit.services import audit_record
from members.models import InsuranceType, InsuredPerson
from payments.models import (
    Contribution,
    ContributionStatus,
    Payer,
    ResidentContributionPayment,
    resident_ledger_key,
)
from payments.selectors import policy_for
from portal.errors import ApplicationError, Conflict
from portal.money import format_yuan
from portal.replica import reading
from portal.transactions import retry_on_conflict

from .models import FamilyLink

LEDGER_KIND = "family.resident_contribution"
AUDIT_ACTION = "family.contribution.pay"
# Advisory lock namespace (with the relative's id): one payment decision per
# relative at a time, whoever pays.
_LOCK_NAMESPACE = 0x72657369


def payable_years(today: dt.date | None = None) -> list[int]:
    """This year (still collected) and the next (collection opens in autumn)."""
    year = (today or timezone.localdate()).year
    return [year, year + 1]


def _refusal(message: str, code: str, status_code: int = 409) -> ApplicationError:
    return ApplicationError(message, code=code, status_code=status_code)


@dataclass(frozen=True)
class Choice:
    """One relative on the choose page: the link, and why not (empty: payable)."""

    link: FamilyLink
    reason: str
    code: str = ""


def _link_problem(member: InsuredPerson, link: FamilyLink) -> tuple[str, str]:
    """("", "") when the link lets ``member`` pay for its relative, else (code, why)."""
    relative = link.relative
    if not member.has_personal_account:
        return "no_personal_account", _(
            "Only employee medical insurance has a personal account, so your insurance "
            "cannot pay for a relative."
        )
    if not link.scope_pay:
        return "pay_not_granted", _(
            "Your link with %(name)s does not let your prior-years surplus pay for them. "
            "Change the link to include paying first."
        ) % {"name": relative.name}
    if relative.insurance_type != InsuranceType.RESIDENT:
        return "not_resident", _(
            "%(name)s is not insured under the urban-rural resident scheme (%(scheme)s): "
            "only resident-scheme contributions can be paid from your surplus."
        ) % {"name": relative.name, "scheme": relative.get_insurance_type_display()}
    if pay_refusal(member, relative):
        return "other_province", _(
            "%(name)s is insured in another province; your surplus pays only for relatives "
            "insured in your province."
        ) % {"name": relative.name}
    return "", ""


def choices_for(member: InsuredPerson) -> list[Choice]:
    """Every relative with an in-effect link from ``member``, payable or not (why)."""
    links = (
        FamilyLink.objects.in_effect()
        .filter(member=member)
        .select_related("relative")
        .order_by("relative__name", "id")
    )
    out = []
    for link in links:
        code, reason = _link_problem(member, link)
        out.append(Choice(link, reason, code))
    return out


def _link_for(member: InsuredPerson, relative_id, *, lock: bool = False) -> FamilyLink:
    try:
        relative_id = int(relative_id)
    except (TypeError, ValueError):
        relative_id = 0
    qs = FamilyLink.objects.in_effect().filter(member=member, relative_id=relative_id)
    if lock:
        qs = qs.select_for_update(no_key=True)
    link = qs.select_related("relative").order_by("id").first()
    if link is None:
        # Same answer for "no such person" and "not linked": nothing learnt.
        raise _refusal(
            _("You can pay only for a relative with an approved link from your account."),
            "not_linked",
            status_code=404,
        )
    return link


def _paid_already(relative: InsuredPerson, year: int, member: InsuredPerson) -> str:
    payment = (
        ResidentContributionPayment.objects.filter(relative=relative, year=year)
        .only("member_id", "created_at")
        .first()
    )
    if payment is not None:
        if payment.member_id == member.pk:
            return _("You already paid %(name)s's %(year)s contribution on %(day)s.") % {
                "name": relative.name,
                "year": year,
                "day": timezone.localtime(payment.created_at).date().isoformat(),
            }
        return _("%(name)s's %(year)s contribution is already paid.") % {
            "name": relative.name,
            "year": year,
        }
    records = Contribution.objects.filter(person=relative, period__year=year).exclude(
        status=ContributionStatus.REFUNDED
    )
    if records.filter(status=ContributionStatus.PAID).exists():
        return _("%(name)s's %(year)s contribution is already paid.") % {
            "name": relative.name,
            "year": year,
        }
    if records.exists():
        return _(
            "%(name)s's %(year)s contribution is recorded as in arrears; it is settled at the "
            "counter, not from your surplus."
        ) % {"name": relative.name, "year": year}
    return ""


@dataclass(frozen=True)
class Quote:
    link: FamilyLink
    relative: InsuredPerson
    year: int
    amount_fen: int
    prior_fen: int

    @property
    def after_fen(self) -> int:
        return self.prior_fen - self.amount_fen


def _amount_fen(relative: InsuredPerson, year: int) -> int:
    policy = policy_for(region=relative.insured_region, year=year)
    amount = policy.resident_individual_fen if policy is not None else None
    if not amount:
        raise _refusal(
            _(
                "There is no resident-scheme contribution amount for %(region)s in %(year)s "
                "yet, so it cannot be paid here."
            )
            % {"region": relative.insured_region, "year": year},
            "no_policy",
        )
    return amount


def _year(value) -> int:
    try:
        year = int(value)
    except (TypeError, ValueError):
        year = 0
    if year not in payable_years():
        raise ApplicationError(
            _("Choose %(years)s.") % {"years": _(" or ").join(map(str, payable_years()))},
            code="year_not_open",
            fields={"year": [_("Not a year that can be paid now.")]},
        )
    return year


def _check(member: InsuredPerson, link: FamilyLink, year: int, prior_fen: int) -> Quote:
    code, reason = _link_problem(member, link)
    if code:
        raise _refusal(reason, code)
    paid = _paid_already(link.relative, year, member)
    if paid:
        raise _refusal(paid, "already_paid")
    amount = _amount_fen(link.relative, year)
    if prior_fen < amount:
        raise _refusal(
            _(
                "Your prior-years surplus holds %(balance)s yuan; the contribution is "
                "%(amount)s yuan. Nothing was paid."
            )
            % {"balance": format_yuan(prior_fen), "amount": format_yuan(amount)},
            "insufficient_funds",
        )
    return Quote(link, link.relative, year, amount, prior_fen)


def resident_contribution_quote(*, member: InsuredPerson, relative_id, year) -> Quote:
    """What paying would do (the confirmation page), or the reason it cannot."""
    year = _year(year)
    link = _link_for(member, relative_id)
    prior = (
        LedgerAccount.objects.filter(person=member, kind=AccountKind.MEMBER_PRIOR)
        .values_list("balance_fen", flat=True)
        .first()
        or 0
    )
    return _check(member, link, year, prior)


def _submission(value) -> str:
    value = str(value or "")
    if not (16 <= len(value) <= 64 and value.isascii() and value.replace("-", "").isalnum()):
        raise ApplicationError(
            _("The confirmation form is incomplete; open it again."), code="bad_submission"
        )
    return value


def _replay(submission: str, member: InsuredPerson, relative_id, year: int):
    payment = ResidentContributionPayment.objects.filter(submission=submission).first()
    if payment is None:
        return None
    if (payment.member_id, payment.relative_id, payment.year) != (
        member.pk,
        int(relative_id),
        year,
    ):
        raise Conflict(
            _("This confirmation was already used for another payment."),
            code="idempotency_conflict",
        )
    return payment


@retry_on_conflict
def resident_contribution_pay(
    *,
    member: InsuredPerson,
    actor,
    relative_id,
    year,
    submission: str,
    request=None,
) -> tuple[ResidentContributionPayment, bool]:
    """Pay ``relative_id``'s resident contribution for ``year`` from
    ``member``'s prior-years surplus, once. Returns ``(payment, created)``.

    ``submission`` is the confirmation form's token: the same token again (a
    double click, a retry after a lost answer) returns the first payment; any
    other attempt for a year already paid is refused ("already paid").

    In one transaction: an advisory lock on the relative (every payer of that
    relative queues here, so "already paid" is decided once), the link row
    (ending it waits for us, and we see it ended), the checks, then ONE ledger
    transaction (key ``resident-contribution:<relative>:<year>``) from the
    prior-years pocket to the resident-contributions account, the relative's
    paid contribution record, the payment row and the audit event. The unique
    constraints (one payment per relative and year, the ledger key, one live
    record per month) are the backstop.
    """
    submission = _submission(submission)
    year = _year(year)
    link = _link_for(member, relative_id)
    replayed = _replay(submission, member, link.relative_id, year)
    if replayed is not None:
        return replayed, False
    # Accounts are created before any lock (a new row is held by the
    # transaction creating it: a lock outside the global order).
    _current, prior = member_pockets(member)
    fund = system_account(AccountKind.RESIDENT_CONTRIBUTIONS)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, link.relative_id]
                    )
            replayed = _replay(submission, member, link.relative_id, year)
            if replayed is not None:
                return replayed, False
            link = _link_for(member, link.relative_id, lock=True)
            locked = {
                a.pk: a
                for a in LedgerAccount.objects.select_for_update()
                .filter(pk__in=[prior.pk, fund.pk])
                .order_by("pk")
            }
            quote = _check(member, link, year, locked[prior.pk].balance_fen)
            relative = quote.relative
            txn = ledger_post(
                idempotency_key=resident_ledger_key(relative.pk, year),
                kind=LEDGER_KIND,
                postings=[(prior, -quote.amount_fen), (fund, quote.amount_fen)],
                memo=f"resident contribution {year} of person {relative.pk}",
            )
            today = timezone.localdate()
            contribution = Contribution.objects.create(
                person=relative,
                period=dt.date(year, 1, 1),
                declared_base_fen=0,
                base_fen=0,
                employer_fen=0,
                individual_fen=quote.amount_fen,
                credited_fen=0,
                payer=Payer.RELATIVE,
                paid_on=today,
                status=ContributionStatus.PAID,
            )
            payment = ResidentContributionPayment.objects.create(
                relative=relative,
                year=year,
                member=member,
                link=link,
                amount_fen=quote.amount_fen,
                contribution=contribution,
                ledger_txn=txn,
                submission=submission,
                paid_by_user=actor,
            )
            audit_record(
                actor=actor,
                action=AUDIT_ACTION,
                subject_person=member,
                target=payment,
                detail={
                    "relative": relative.pk,
                    "year": year,
                    "amount_fen": quote.amount_fen,
                    "link": link.pk,
                    "contribution": contribution.pk,
                    "transaction": txn.idempotency_key,
                },
                request=request,
            )
            return payment, True
    except IntegrityError:
        # Only if the advisory lock was bypassed (another database path).
        replayed = _replay(submission, member, link.relative_id, year)
        if replayed is not None:
            return replayed, False
        raise _refusal(
            _("%(name)s's %(year)s contribution is already paid.")
            % {"name": link.relative.name, "year": year},
            "already_paid",
        ) from None


# --- What the records pages show ---------------------------------------------


def surplus_lines(person: InsuredPerson, *, year: int | None = None) -> tuple[list, list]:
    """The records page's two lists: what ``person`` paid for relatives
    (``paid_by_member``) and what relatives paid for ``person``
    (``paid_for_relative``). A plain-SQL probe first: most persons have
    neither, and it costs a fraction of compiling the two queries
    (docs/adr/0006)."""
    with reading(ResidentContributionPayment).cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM payments_residentcontributionpayment"
            " WHERE member_id = %s) OR EXISTS (SELECT 1 FROM"
            " payments_residentcontributionpayment WHERE relative_id = %s)",
            [person.pk, person.pk],
        )
        if not cursor.fetchone()[0]:
            return [], []
    return paid_by_member(person, year=year), paid_for_relative(person)


def paid_by_member(member: InsuredPerson, *, year: int | None = None, limit: int = 50):
    """Contributions ``member`` paid for relatives (newest first): the debit
    lines of their prior-years pocket. The caller obtained ``member`` through
    the permission layer (scope ``records``)."""
    qs = ResidentContributionPayment.objects.filter(member=member)
    if year:
        qs = qs.filter(Q(created_at__year=year) | Q(year=year))
    return _with_people(list(qs.order_by("-created_at", "-id")[:limit]), "relative")


def paid_for_relative(relative: InsuredPerson, *, limit: int = 50):
    """Contributions paid for ``relative`` from someone's surplus (newest first)."""
    return _with_people(
        list(
            ResidentContributionPayment.objects.filter(relative=relative).order_by("-year", "-id")[
                :limit
            ]
        ),
        "member",
    )


def _with_people(payments: list, field: str) -> list:
    """Attach the other person of each payment in one query. People are read
    from the primary (docs/adr/0011): a join would read them from the replica
    the records page's figures come from."""
    people = InsuredPerson.objects.in_bulk({getattr(p, f"{field}_id") for p in payments})
    for payment in payments:
        setattr(payment, field, people[getattr(payment, f"{field}_id")])
    return payments
