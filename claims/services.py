"""Writes for institutions and expenses. Settlement is in ``claims.settlement``."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from access.lookups import PAY_GRANT_PROBE_APPROVED, PAY_GRANT_PROBE_SQL, payment_grants_for
from accounts.models import LedgerAccount
from accounts.services import (
    ACCOUNT_COLUMNS,
    account_from_row,
    ledger_hold,
    ledger_post_held,
    ledger_reverse,
    payable_code,
    pockets_and_payable,
)
from audit.services import audit_record
from errands import policy as errands_policy
from members.crypto import id_number_hashes
from members.idnumber import parse_id_number
from members.models import InsuredPerson
from members.selectors import PERSON_COLUMNS, person_by_id_number, person_from_row
from portal.errors import ApplicationError, Conflict
from portal.money import MAX_EXPENSE_FEN, MAX_EXPENSE_LINE_FEN, format_yuan
from portal.prepared import prepared_cursor
from portal.rows import insert_cte, insert_rows, stored
from portal.transactions import retry_on_conflict

from .models import (
    BenefitPolicy,
    CareType,
    CatalogClass,
    Expense,
    ExpenseLine,
    ExpensePart,
    ExpenseStatus,
    FundAccumulator,
    Institution,
    InstitutionKind,
    InstitutionToken,
    Payer,
    SettlementWork,
)
from .selectors import policy_region
from .split import Grant, PolicyTerms, split_expense

TOKEN_PREFIX = "inst_"  # noqa: S105 (a public prefix, not a secret)


def token_sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def institution_create(*, name: str, kind: str, region: str) -> Institution:
    if kind not in InstitutionKind.values:
        raise ApplicationError(_("Unknown institution kind."), fields={"kind": [kind]})
    return Institution.objects.create(name=name, kind=kind, region=region)


def institution_token_create(*, institution: Institution) -> tuple[InstitutionToken, str]:
    """A new API token. Only its SHA-256 is stored: the returned token is shown once."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = InstitutionToken.objects.create(
        institution=institution, token_sha256=token_sha256(raw), prefix=raw[:12]
    )
    return token, raw


def institution_token_revoke(*, token: InstitutionToken) -> None:
    InstitutionToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


# --- Policies ---------------------------------------------------------------


_POLICY_FIELDS = list(BenefitPolicy._meta.concrete_fields)
_POLICY_SQL = (
    "SELECT "  # noqa: S608 (the model's own columns)
    + ", ".join(str(f.column) for f in _POLICY_FIELDS)
    + " FROM claims_benefitpolicy"
    " WHERE region = %s AND scheme = %s AND care_type = %s AND year = %s"
)


def _policy_row(region: str, scheme: str, care_type: str, year: int) -> BenefitPolicy | None:
    # On every submission: plain SQL on the unique (region, scheme, care
    # type, year) index; each value made what the ORM would make of it.
    with prepared_cursor(connection) as cursor:
        cursor.execute(_POLICY_SQL, [region, scheme, care_type, year])
        row = cursor.fetchone()
    return _policy_from_row(row) if row is not None else None


def _policy_from_row(row) -> BenefitPolicy:
    """The policy of a row of ``_POLICY_FIELDS``' columns, each value made
    what the ORM would make of it."""
    return BenefitPolicy.from_db(
        connection.alias,
        [f.attname for f in _POLICY_FIELDS],
        [f.to_python(v) for f, v in zip(_POLICY_FIELDS, row, strict=True)],
    )


def policy_for(*, person: InsuredPerson, care_type: str, year: int) -> BenefitPolicy:
    policy = _policy_row(policy_region(person), person.insurance_type, care_type, year)
    if policy is None:
        raise _no_policy(person, care_type, year)
    return policy


def _no_policy(person: InsuredPerson, care_type: str, year: int) -> ApplicationError:
    return ApplicationError(
        _("No benefit policy for region %(region)s, this scheme, %(care)s, %(year)s.")
        % {
            "region": policy_region(person),
            "care": CareType(care_type).label,
            "year": year,
        },
        code="no_policy",
        fields={"service_date": [_("No benefit policy for this year.")]},
    )


def _unknown_patient() -> ApplicationError:
    return ApplicationError(
        _("No insured person has this identity number."),
        code="unknown_patient",
        fields={"patient_id_number": [_("Not an insured person.")]},
    )


@dataclass(frozen=True)
class _Reads:
    """What a submission reads before its transaction."""

    patient: InsuredPerson
    policy: BenefitPolicy
    accounts: dict[str, LedgerAccount]  # by code: those read already
    may_have_grants: bool | None  # the pay-grant probe's answer (None: not asked)
    # The benefit pools the patient has an accumulator for in the year
    # (None: not asked). A pool missing here is made first thing in the
    # submission's transaction (``_submit_locked``).
    accumulator_pools: frozenset[str] | None = None


def _cols(alias: str, columns) -> str:
    return ", ".join(f"{alias}.{c}" for c in columns)


# The person by the keyed hash of their number (as ``person_by_id_number``),
# their policy (as ``policy_for``: the city is the district with its last
# two digits zeroed, ``policy_region``), their two pockets and the
# institution's payable (as ``pockets_and_payable`` reads them), the
# pay-grant probe (``payment_grants_for``) and the pools of the patient's
# accumulators for the year: one statement instead of five.
_READS_SQL = (  # noqa: S608 (column names and fixed text only)
    "SELECT {person}, {policy}, {cur}, {pri}, {pay}, {probe},"
    " ARRAY(SELECT a.pool FROM claims_fundaccumulator a"
    " WHERE a.person_id = p.id AND a.year = %(year)s)"
    " FROM (SELECT {person_plain} FROM members_insuredperson"
    " WHERE id_number_hash = ANY(%(hashes)s::text[]) ORDER BY id LIMIT 1) p"
    " LEFT JOIN claims_benefitpolicy pol ON pol.region = left(p.insured_region, 4) || '00'"
    " AND pol.scheme = p.insurance_type AND pol.care_type = %(care_type)s AND pol.year = %(year)s"
    " LEFT JOIN accounts_ledgeraccount cur ON cur.code = 'member:' || p.id || ':current'"
    " LEFT JOIN accounts_ledgeraccount pri ON pri.code = 'member:' || p.id || ':prior'"
    " LEFT JOIN accounts_ledgeraccount pay ON pay.code = %(payable)s"
).format(
    person=_cols("p", PERSON_COLUMNS),
    person_plain=", ".join(PERSON_COLUMNS),
    policy=_cols("pol", [f.column for f in _POLICY_FIELDS]),
    cur=_cols("cur", ACCOUNT_COLUMNS),
    pri=_cols("pri", ACCOUNT_COLUMNS),
    pay=_cols("pay", ACCOUNT_COLUMNS),
    probe=PAY_GRANT_PROBE_SQL.replace("%(patient)s", "p.id"),
)


def _reads(institution: Institution, id_number: str, care_type: str, year: int) -> _Reads:
    """The patient (``id_number``: valid and normalised), their policy, the
    accounts and whether a relative's pocket may pay: ApplicationError for an
    unknown patient or a missing policy, as ``person_by_id_number`` and
    ``policy_for`` (tests/claims/test_lean_submission.py holds them equal)."""
    if connection.vendor != "postgresql":  # the SQLite demo: one query each
        patient = person_by_id_number(id_number)
        if patient is None:
            raise _unknown_patient()
        return _Reads(patient, policy_for(person=patient, care_type=care_type, year=year), {}, None)
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            _READS_SQL,
            {
                "hashes": list(id_number_hashes(id_number)),
                "care_type": care_type,
                "year": year,
                "payable": payable_code(institution.pk),
                "approved": PAY_GRANT_PROBE_APPROVED,
            },
        )
        row = cursor.fetchone()
    if row is None:
        raise _unknown_patient()
    n_person, n_policy, n_account = len(PERSON_COLUMNS), len(_POLICY_FIELDS), len(ACCOUNT_COLUMNS)
    patient = person_from_row(connection.alias, row[:n_person], id_number)
    values = row[n_person : n_person + n_policy]
    if values[0] is None:
        raise _no_policy(patient, care_type, year)
    policy = _policy_from_row(values)
    accounts = {}
    start = n_person + n_policy
    for k in range(3):
        values = row[start + k * n_account : start + (k + 1) * n_account]
        if values[0] is not None:
            account = account_from_row(connection.alias, values)
            accounts[account.code] = account
    return _Reads(patient, policy, accounts, bool(row[-2]), frozenset(row[-1]))


def policy_terms(policy: BenefitPolicy) -> PolicyTerms:
    return PolicyTerms(
        deductible_fen=policy.deductible_fen,
        ratio=policy.ratio,
        ceiling_fen=policy.ceiling_fen,
        class_b_self_ratio=policy.class_b_self_ratio,
        current_pocket_allowed=policy.current_pocket_allowed,
    )


# --- Expenses ---------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    catalog_class: str
    amount_fen: int
    description: str = ""


def _request_sha256(
    patient_id_number: str,
    service_date: dt.date,
    care_type: str,
    lines: Sequence[LineInput],
    chronic_disease: str = "",
) -> str:
    body = {
        "patient": patient_id_number.strip().upper(),
        "date": service_date.isoformat(),
        "care_type": care_type,
        "lines": [[ln.catalog_class, ln.amount_fen, ln.description] for ln in lines],
    }
    if chronic_disease:  # absent before errands: earlier keys still replay
        body["chronic_disease"] = chronic_disease
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def _for_update() -> str:
    """`` FOR UPDATE`` where the database has it (not the SQLite demo, which
    locks the whole database for a write anyway)."""
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _replay(institution: Institution, key: str, request_hash: str) -> Expense | None:
    # Asked only when a submission was refused before its transaction or lost
    # a race on the key (the transaction's first statement probes the key
    # itself): a plain probe on the unique (institution, key) index; the
    # expense is read only when there is one. The primary, never a replica:
    # it decides what to write.
    with prepared_cursor(connection) as cursor:
        cursor.execute(_REPLAY_SQL, [institution.pk, key])
        row = cursor.fetchone()
    return _replayed(row, request_hash)


_REPLAY_SQL = (
    "SELECT id, request_sha256 FROM claims_expense"
    " WHERE institution_id = %s AND idempotency_key = %s"
)


# The probe as a row of ``_lock_accumulator_and_pockets``.
_REPLAY_ROW_SQL = _REPLAY_SQL.replace(
    "SELECT id, request_sha256", "SELECT 'replay', id, NULL, request_sha256, NULL"
)


def _replayed(row, request_hash: str) -> Expense | None:
    """The expense stored under the key (``row``: its id and request hash),
    if any; a Conflict when it was made by another body."""
    if row is None:
        return None
    if row[1] != request_hash:
        raise Conflict(
            _("This Idempotency-Key was already used with a different request body."),
            code="idempotency_conflict",
        )
    return Expense.objects.get(pk=row[0])


def _validate(
    *, institution: Institution, key: str, service_date: dt.date, care_type: str, lines
) -> None:
    if not key or len(key) > 100 or not key.isprintable():
        raise ApplicationError(
            _("Send an Idempotency-Key header of 1 to 100 characters."),
            code="idempotency_key_missing",
            fields={"Idempotency-Key": [_("Required, 1 to 100 characters.")]},
        )
    if not institution.active:
        raise ApplicationError(
            _("This institution is not active."), code="institution_inactive", status_code=403
        )
    if care_type not in CareType.values:
        raise ApplicationError(
            _("Unknown care type."),
            fields={"care_type": [_("One of: %(v)s.") % {"v": ", ".join(CareType.values)}]},
        )
    is_pharmacy = institution.kind == InstitutionKind.PHARMACY
    if is_pharmacy != (care_type == CareType.PHARMACY):
        raise ApplicationError(
            _("A retail pharmacy submits pharmacy purchases only; a hospital never does."),
            fields={"care_type": [_("Not allowed for this institution.")]},
        )
    if service_date > timezone.localdate():
        raise ApplicationError(
            _("The date of service is in the future."),
            fields={"service_date": [_("Must not be after today.")]},
        )
    if not lines:
        raise ApplicationError(
            _("An expense has at least one line item."), fields={"lines": [_("Required.")]}
        )
    for i, line in enumerate(lines):
        if line.catalog_class not in CatalogClass.values:
            raise ApplicationError(
                _("Line %(n)d: unknown catalog class.") % {"n": i + 1},
                fields={f"lines[{i}].catalog_class": [_("One of: A, B, self.")]},
            )
        if not isinstance(line.amount_fen, int) or line.amount_fen <= 0:
            raise ApplicationError(
                _("Line %(n)d: the amount must be above zero.") % {"n": i + 1},
                fields={f"lines[{i}].amount": [_("Must be above zero.")]},
            )
        if line.amount_fen > MAX_EXPENSE_LINE_FEN:
            raise ApplicationError(
                _("Line %(n)d: the amount is too large: at most %(max)s yuan.")
                % {"n": i + 1, "max": format_yuan(MAX_EXPENSE_LINE_FEN)},
                code="amount_too_large",
                fields={f"lines[{i}].amount": [_("Too large.")]},
            )
    # Each line is bounded above, so this sum cannot overflow a bigint; the
    # whole expense has its own, stated maximum (docs/adr/0007).
    total = sum(line.amount_fen for line in lines)
    if total > MAX_EXPENSE_FEN:
        raise ApplicationError(
            _("The expense total is too large: at most %(max)s yuan.")
            % {"max": format_yuan(MAX_EXPENSE_FEN)},
            code="amount_too_large",
            fields={
                "lines": [
                    _("The lines add up to more than %(max)s yuan.")
                    % {"max": format_yuan(MAX_EXPENSE_FEN)}
                ]
            },
        )


def _accumulator_for_update(person: InsuredPerson, year: int, pool: str) -> FundAccumulator:
    """The person's accumulator for the year and pool, locked (created first
    if missing). Plain SQL: it is on every submission's path."""
    sql = (
        "SELECT id, deductible_used_fen, fund_paid_fen FROM claims_fundaccumulator"  # noqa: S608
        " WHERE person_id = %s AND year = %s AND pool = %s" + _for_update()
    )
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [person.pk, year, pool])
        row = cursor.fetchone()
        if row is None:
            _create_accumulator(person, year, pool)
            cursor.execute(sql, [person.pk, year, pool])
            row = cursor.fetchone()
    return _accumulator(person, year, pool, row)


def _accumulator(person: InsuredPerson, year: int, pool: str, row) -> FundAccumulator:
    """The accumulator as read under its lock: ``row`` is (id, deductible
    used, fund paid)."""
    acc_id, deductible_used_fen, fund_paid_fen = row
    return FundAccumulator(
        id=acc_id,
        person=person,
        year=year,
        pool=pool,
        deductible_used_fen=deductible_used_fen,
        fund_paid_fen=fund_paid_fen,
    )


class _NoAccumulator(Exception):
    """The patient has no accumulator for the year and pool yet."""


def _lock_accumulator_and_pockets(
    person: InsuredPerson, year: int, pool: str, pocket_ids: list[int], institution, key: str
) -> list[tuple]:
    """ONE statement, the first of a submission's transaction: lock the
    person's accumulator for the year and pool, then the pockets in primary-key
    order (ADR 0005's one order: the branches of a UNION ALL run one after
    the other), and look whether the idempotency key is stored. Rows:
    ``('acc', id, deductible used, None, fund paid)`` (none when there is no
    accumulator yet), ``('pocket', id, balance, None, None)`` and
    ``('replay', expense id, None, request hash, None)``.

    The key is looked up in the statement's snapshot, taken before its locks
    were granted: a submission of the same key that held the accumulator
    first and committed meanwhile is not seen here, and this one's INSERT is
    then refused by the expense's unique (institution, key) index, which
    ``expense_submit`` answers with that submission's expense."""
    lock = _for_update()
    parts = ["SELECT 'acc', id, deductible_used_fen, NULL, fund_paid_fen FROM acc", _REPLAY_ROW_SQL]
    ctes = [
        "acc AS (SELECT id, deductible_used_fen, fund_paid_fen"  # noqa: S608 (no input)
        f" FROM claims_fundaccumulator WHERE person_id = %s AND year = %s AND pool = %s{lock})"
    ]
    params: list = [person.pk, year, pool]
    if pocket_ids:
        ctes.append(
            "locked AS (SELECT id, balance_fen FROM accounts_ledgeraccount"  # noqa: S608
            " WHERE id IN ({}) ORDER BY id{})".format(", ".join(["%s"] * len(pocket_ids)), lock)
        )
        params += pocket_ids
        parts.insert(1, "SELECT 'pocket', id, balance_fen, NULL, NULL FROM locked")
    params += [institution.pk, key]
    with prepared_cursor(connection) as cursor:
        cursor.execute("WITH {} {}".format(", ".join(ctes), " UNION ALL ".join(parts)), params)
        return cursor.fetchall()


def _create_accumulator(person: InsuredPerson, year: int, pool: str) -> None:
    FundAccumulator.objects.bulk_create(
        [FundAccumulator(person=person, year=year, pool=pool)], ignore_conflicts=True
    )


def grant_used_fen(*, grantor_id: int, patient: InsuredPerson, year: int) -> int:
    """What ``patient`` paid from ``grantor``'s prior-years pocket this year."""
    return (
        ExpensePart.objects.filter(
            payer=Payer.RELATIVE_PRIOR,
            grantor_id=grantor_id,
            expense__patient=patient,
            expense__service_date__year=year,
            expense__status=ExpenseStatus.ACCEPTED,
        ).aggregate(s=Sum("amount_fen"))["s"]
        or 0
    )


@dataclass(frozen=True)
class _Payers:
    """Who may pay an expense and the accounts it may touch."""

    own_current: LedgerAccount | None
    own_prior: LedgerAccount | None
    grants: list  # access.lookups.payment_grants_for: who lets the patient pay
    grant_pockets: dict[int, LedgerAccount]  # grantor id -> prior-years pocket
    payable: LedgerAccount


def _create_accounts(institution: Institution, patient: InsuredPerson, reads: _Reads) -> _Payers:
    """Read (creating the missing ones) the accounts an expense may touch,
    before any lock is taken: a new account row is held by the transaction
    creating it until that ends, which would be a lock outside the global
    order. Read once: an account's id and kind never change, and the
    balances that matter are read again under the row locks. Those ``reads``
    holds already are not read again."""
    grants = payment_grants_for(patient=patient, probed=reads.may_have_grants)
    persons = [patient] if patient.has_personal_account else []
    persons += [g.member for g in grants]
    pockets, payable = pockets_and_payable(
        persons=persons, institution_id=institution.pk, known=reads.accounts
    )
    own_current, own_prior = pockets.get(patient.pk, (None, None))
    return _Payers(
        own_current=own_current,
        own_prior=own_prior,
        grants=grants,
        grant_pockets={g.member_id: pockets[g.member_id][1] for g in grants},
        payable=payable,
    )


@retry_on_conflict
def expense_submit(
    *,
    institution: Institution,
    idempotency_key: str,
    patient_id_number: str,
    service_date: dt.date,
    care_type: str,
    lines: Sequence[LineInput],
    chronic_disease: str = "",
) -> tuple[Expense, bool]:
    """Record an expense and pay its account part, exactly once per key.

    Returns ``(expense, created)``. The same key with the same body returns the
    first expense; with another body it is a Conflict (409).

    1. Validate; look up the patient (by identity number) and the policy.
    2. In one transaction: lock the patient's accumulator for this year and
       benefit pool (so two expenses at once never share deductible or ceiling
       room), then every member pocket that may pay, in primary-key order, the
       global order of ADR 0001. The institution payable is not locked: a
       posting to it appends a pending delta and never updates its row, so
       submissions to one institution do not wait for each other.
    3. Split (``claims.split``), post ONE ledger transaction moving the
       account part from the pockets to the institution payable (the fund part
       is posted by settlement), move the accumulator, store the expense with
       its parts and the balances after.
    """
    _validate(
        institution=institution,
        key=idempotency_key,
        service_date=service_date,
        care_type=care_type,
        lines=lines,
    )
    try:
        patient_id_number = parse_id_number(patient_id_number).value
    except ValidationError as exc:
        raise ApplicationError(
            exc.messages[0],
            code=exc.code or "invalid",
            fields={"patient_id_number": [exc.messages[0]]},
        ) from None
    chronic_disease = (chronic_disease or "").strip().upper()
    request_hash = _request_sha256(
        patient_id_number, service_date, care_type, lines, chronic_disease
    )
    # A replay is answered by the first statement of the transaction (which
    # probes the key) like any other submission: nothing before it is asked
    # of the key, unless a step before it refuses the request. Then the key
    # is looked up first, so a replay is answered whatever changed since (the
    # patient's register entry, a filing, the policy).
    try:
        reads = _reads(institution, patient_id_number, care_type, service_date.year)
        patient, policy = reads.patient, reads.policy
        # Errands (ADR 0019): a chronic disease's own policy, cross-region care.
        terms, pool, basis = errands_policy.adjust_terms(
            patient=patient,
            home_region=policy.region,
            institution_region=institution.region,
            service_date=service_date,
            care_type=care_type,
            chronic_code=chronic_disease,
            terms=policy_terms(policy),
            pool=policy.pool,
        )
        payers = _create_accounts(institution, patient, reads)
    except ApplicationError:
        existing = _replay(institution, idempotency_key, request_hash)
        if existing is not None:
            return existing, False
        raise
    submit = functools.partial(
        _submit_locked,
        institution=institution,
        payers=payers,
        key=idempotency_key,
        request_hash=request_hash,
        patient=patient,
        policy=policy,
        service_date=service_date,
        care_type=care_type,
        lines=lines,
        terms=terms,
        pool=pool,
        basis=basis,
        new_accumulator=reads.accumulator_pools is not None and pool not in reads.accumulator_pools,
    )
    try:
        try:
            return submit()
        except _NoAccumulator:  # the reads did not ask (SQLite)
            _create_accumulator(patient, service_date.year, pool)
            return submit()
    except IntegrityError:
        # The same key committed concurrently (for another patient, say).
        existing = _replay(institution, idempotency_key, request_hash)
        if existing is None:
            raise
        return existing, False


def _submit_locked(
    *,
    institution,
    payers: _Payers,
    key,
    request_hash,
    patient,
    policy,
    service_date,
    care_type,
    lines,
    terms,
    pool,
    basis,
    new_accumulator: bool = False,
) -> tuple[Expense, bool]:
    year = service_date.year
    with transaction.atomic():
        if new_accumulator:
            # The person's first expense of the year and pool: the
            # accumulator is made before any lock, so the first lock taken
            # is the accumulator's (ADR 0005's order). A submission making
            # the same one meanwhile is waited for, holding nothing.
            _create_accumulator(patient, year, pool)
        own_current, own_prior = payers.own_current, payers.own_prior
        grants, grant_pockets, payable = payers.grants, payers.grant_pockets, payers.payable
        # All the pockets at once, in primary-key order: a refund locks the
        # same rows in that order too. The payable is never locked (ADR 0001).
        pockets = {
            a.pk: a for a in (own_current, own_prior, *grant_pockets.values()) if a is not None
        }
        rows = _lock_accumulator_and_pockets(patient, year, pool, sorted(pockets), institution, key)
        acc_row = next((r for r in rows if r[0] == "acc"), None)
        if acc_row is None:
            # No accumulator the reads knew of: nothing is locked but the
            # pockets, released by leaving; made, then again.
            raise _NoAccumulator
        _w, acc_id, deductible_used_fen, _s, fund_paid_fen = acc_row
        acc = _accumulator(patient, year, pool, (acc_id, deductible_used_fen, fund_paid_fen))
        stored_row = next(((pk, sha) for what, pk, _b, sha, _f in rows if what == "replay"), None)
        existing = _replayed(stored_row, request_hash)
        if existing is not None:
            return existing, False
        locked = {}
        for what, pk, balance_fen, _sha, _f in rows:
            if what == "pocket":
                a = pockets[pk]
                locked[pk] = LedgerAccount(
                    id=pk,
                    code=a.code,
                    kind=a.kind,
                    person_id=a.person_id,
                    balance_fen=balance_fen,
                )

        def bal(a):
            return locked[a.pk].balance_fen if a is not None else 0

        split_grants = []
        for g in grants:
            available = bal(grant_pockets[g.member_id])
            if g.pay_yearly_cap_fen is not None:
                used = grant_used_fen(grantor_id=g.member_id, patient=patient, year=year)
                available = min(available, max(g.pay_yearly_cap_fen - used, 0))
            split_grants.append(Grant(grantor_id=g.member_id, available_fen=available))

        split = split_expense(
            lines=[(ln.catalog_class, ln.amount_fen) for ln in lines],
            policy=terms,
            deductible_used_fen=acc.deductible_used_fen,
            fund_paid_fen=acc.fund_paid_fen,
            current_fen=bal(own_current),
            prior_fen=bal(own_prior),
            grants=split_grants,
        )

        # The pockets as read under their locks (ledger_post_held checks the
        # debits against those balances).
        postings: list[tuple[LedgerAccount, int]] = []
        for part in split.parts:
            if part.payer == Payer.CURRENT:
                assert own_current is not None  # the split pays from pockets that exist
                postings.append((locked[own_current.pk], -part.amount_fen))
            elif part.payer == Payer.PRIOR:
                assert own_prior is not None
                postings.append((locked[own_prior.pk], -part.amount_fen))
            elif part.payer == Payer.RELATIVE_PRIOR:
                assert part.grantor_id is not None
                postings.append((locked[grant_pockets[part.grantor_id].pk], -part.amount_fen))
        expense = Expense(
            institution=institution,
            idempotency_key=key,
            request_sha256=request_hash,
            patient=patient,
            service_date=service_date,
            care_type=care_type,
            policy=policy,
            total_fen=split.total_fen,
            fund_fen=split.fund_fen,
            account_fen=split.account_fen,
            cash_fen=split.cash_fen,
            self_borne_fen=split.self_borne_fen,
            self_funded_fen=split.self_funded_fen,
            deductible_fen=split.deductible_fen,
            pool=pool if pool != policy.pool else "",
            basis=basis,
            balance_current_after_fen=(
                bal(own_current) - split.paid_by(Payer.CURRENT) if own_current else None
            ),
            balance_prior_after_fen=(
                bal(own_prior) - split.paid_by(Payer.PRIOR) if own_prior else None
            ),
        )
        work = SettlementWork(
            expense=expense,
            kind=SettlementWork.Kind.EXPENSE,
            institution=institution,
            due_at=expense.created_at,
            fund_fen=expense.fund_fen,
        )
        written_lines = [
            ExpenseLine(
                expense=expense,
                position=i,
                catalog_class=ln.catalog_class,
                description=ln.description[:200],
                amount_fen=ln.amount_fen,
            )
            for i, ln in enumerate(lines)
        ]
        written_parts = [
            ExpensePart(
                expense=expense,
                position=i,
                payer=p.payer,
                component=p.component,
                amount_fen=p.amount_fen,
                grantor_id=p.grantor_id,
                reason_code=p.reason_code,
                reason_params=p.reason_params,
            )
            for i, p in enumerate(split.parts)
        ]
        ledger = None
        if split.account_fen:
            postings.append((payable, split.account_fen))
            ledger = {
                "idempotency_key": f"expense:{institution.pk}:{key}",
                "kind": "claims.expense",
                "postings": postings,
                "memo": f"expense at {institution.pk} for person {patient.pk}",
            }
        _write_expense(
            expense, work, written_lines, written_parts, ledger=ledger, split=split, acc=acc
        )
        _audit_relative_payments(expense, patient, grants, split.parts)
        # The answer is made from what was just written, not read back: the
        # parts with their grantors (and the lines) as a prefetch would leave
        # them, so ``expense.parts.all()`` costs no query.
        grantors = {g.member_id: g.member for g in grants}
        for written in written_parts:
            if written.grantor_id is not None:
                written.grantor = grantors[written.grantor_id]
        expense._prefetched_objects_cache = {  # type: ignore[attr-defined]
            "parts": _prefetched(expense.parts, written_parts),
            "lines": _prefetched(expense.lines, written_lines),
        }
        return expense, True


def _write_expense(expense, work, lines, parts, *, ledger, split, acc) -> None:
    """Write an expense under the locks ``_submit_locked`` holds: the ledger
    transaction (``ledger`` = the arguments of ``ledger_post_held``, or None
    when the account pays nothing), the accumulator's move, the expense, its
    settlement queue row, lines and parts. On PostgreSQL ONE statement
    (``_write_expense_pg``); elsewhere (the SQLite demo) one each."""
    if connection.vendor == "postgresql":
        _write_expense_pg(expense, work, lines, parts, ledger=ledger, split=split, acc=acc)
        return
    if ledger is not None:
        expense.ledger_txn = ledger_post_held(**ledger)
    FundAccumulator.objects.filter(pk=acc.pk).update(
        deductible_used_fen=F("deductible_used_fen") + split.deductible_fen,
        fund_paid_fen=F("fund_paid_fen") + split.fund_fen,
    )
    insert_rows([expense], signals=True)
    work.expense = expense
    insert_rows([work], signals=True)
    for row in (*lines, *parts):
        row.expense = expense
    insert_rows(lines)
    insert_rows(parts)


def _write_expense_pg(expense, work, lines, parts, *, ledger, split, acc) -> None:
    # Each part of the WITH is its own INSERT (or UPDATE), guarded by its
    # table's constraints and triggers as a statement of its own would be;
    # the rows that need the expense's id take it from the ``expense`` part.
    ctes, params = [], []
    held = ledger_hold(**ledger) if ledger is not None else None
    if held is not None:
        ctes.append(held.cte)
        params += held.params
    ctes.append(
        "acc AS (UPDATE claims_fundaccumulator SET"
        " deductible_used_fen = deductible_used_fen + %s,"
        " fund_paid_fen = fund_paid_fen + %s WHERE id = %s)"
    )
    params += [split.deductible_fen, split.fund_fen, acc.pk]
    expense_id = {"expense_id": "(SELECT id FROM expense)"}
    for name, rows, refs, returning in (
        (
            "expense",
            [expense],
            {"ledger_txn_id": "(SELECT id FROM txn)"} if held is not None else {},
            "id",
        ),
        ("work", [work], expense_id, ""),
        ("lines", lines, expense_id, "id, position"),
        ("parts", parts, expense_id, "id, position"),
    ):
        sql, values = insert_cte(
            name, rows, refs=refs, returning=returning, signals=name in ("expense", "work")
        )
        ctes.append(sql)
        params += values
    txn = "(SELECT id FROM txn)" if held is not None else "NULL::bigint"
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            "WITH {} SELECT 'expense', id, {} FROM expense"  # noqa: S608 (no input in the text)
            " UNION ALL SELECT 'line', id, position FROM lines"
            " UNION ALL SELECT 'part', id, position FROM parts".format(",\n".join(ctes), txn),
            params,
        )
        rows = cursor.fetchall()
    # ('expense', its id, its ledger transaction's id), then ('line' or
    # 'part', its id, its position).
    expense.pk, txn_id = next((pk, third) for what, pk, third in rows if what == "expense")
    ids = {(what, position): pk for what, pk, position in rows if what != "expense"}
    if held is not None:
        if txn_id is None:
            # The ledger key was stored already: only by an expense with this
            # institution and key, whose unique index has refused this
            # statement before here. Never an expense without its ledger.
            raise RuntimeError(f"ledger key {held.idempotency_key} stored without its expense")
        expense.ledger_txn = held.stored(txn_id)
    stored([expense], signals=True)
    work.expense = expense
    stored([work], signals=True)
    for what, written in (("line", lines), ("part", parts)):
        for row in written:
            row.expense = expense
            row.pk = ids[(what, row.position)]
        stored(written)


def _prefetched(manager, rows: list):
    """What ``prefetch_related`` leaves for a relation: its queryset holding
    ``rows`` (so ``.all()`` costs no query, and ``.filter()`` still asks the
    database, as after a prefetch)."""
    qs = manager.get_queryset()
    qs._result_cache, qs._prefetch_done = rows, True
    return qs


def _audit_relative_payments(expense: Expense, patient: InsuredPerson, grants, parts) -> None:
    """One event per member whose prior-years surplus paid part of a
    relative's expense (``family.surplus.pay``): it is on the member's access
    log and the relative's own list (docs/adr/0018). The actor is the
    institution's API call, not a signed-in user: ``detail["relative"]`` names
    who the money paid for, ``detail["link"]`` the grant. Written last, in the
    expense's transaction (after the ledger locks: the one order)."""
    paid: dict[int, int] = {}
    for part in parts:
        if part.payer == Payer.RELATIVE_PRIOR and part.amount_fen:
            paid[part.grantor_id] = paid.get(part.grantor_id, 0) + part.amount_fen
    by_member = {g.member_id: g for g in grants}
    for grantor_id, amount in sorted(paid.items()):
        grant = by_member[grantor_id]
        audit_record(
            actor=None,
            action="family.surplus.pay",
            subject_person=grant.member,
            target=expense,
            detail={
                "relative": patient.pk,
                "link": grant.pk,
                "scopes": grant.scopes(),
                "amount_fen": amount,
                "institution": expense.institution_id,
                "service_date": expense.service_date.isoformat(),
            },
        )


@retry_on_conflict
def expense_reverse(*, institution: Institution, expense_id: int, reason: str = "") -> Expense:
    """Refund an expense: post the mirror image of its ledger transaction
    (balances restored, history untouched) and give back its deductible and
    fund room. Reversing twice returns the first reversal.

    Locks, in the order of ADR 0005: the expense row, its settlement queue
    row, the accumulator, then (``ledger_reverse``) every account of the
    ledger transaction in primary-key order.

    A reversal of a settled expense is settled by a later batch (a reversing
    entry from the institution payable back to the pooled fund).
    """
    with transaction.atomic():
        expense = (
            Expense.objects.select_for_update()
            .select_related("policy")
            .filter(pk=expense_id, institution=institution)
            .first()
        )
        if expense is None:
            raise ApplicationError(
                _("No expense with this id was submitted by this institution."),
                code="not_found",
                status_code=404,
            )
        if expense.status == ExpenseStatus.REVERSED:
            return expense
        reversed_at = timezone.now()
        # Still queued: never settled, and now never will be. Not queued: a
        # settlement chunk took it (the DELETE waits for a chunk holding the
        # row and then sees its outcome), so the reversal is queued in turn.
        # Before the ledger: a chunk holds its queue rows while it posts to
        # the institution payable (lock order in ADR 0005).
        unsettled, _kinds = SettlementWork.objects.filter(
            expense=expense, kind=SettlementWork.Kind.EXPENSE
        ).delete()
        if not unsettled:
            SettlementWork.objects.create(
                expense=expense,
                kind=SettlementWork.Kind.REVERSAL,
                institution_id=expense.institution_id,
                due_at=reversed_at,
                fund_fen=expense.fund_fen,
            )
        acc = _accumulator_for_update(
            expense.patient, expense.service_date.year, expense.pool or expense.policy.pool
        )
        reversal = None
        if expense.ledger_txn is not None:
            reversal = ledger_reverse(
                original=expense.ledger_txn,
                idempotency_key=f"expense-reversal:{expense.pk}",
                memo=f"refund of expense {expense.pk}",
            )
        FundAccumulator.objects.filter(pk=acc.pk).update(
            deductible_used_fen=Greatest(F("deductible_used_fen") - expense.deductible_fen, 0),
            fund_paid_fen=Greatest(F("fund_paid_fen") - expense.fund_fen, 0),
        )
        expense.status = ExpenseStatus.REVERSED
        expense.reversal_txn = reversal
        expense.reversed_at = reversed_at
        expense.reversal_reason = reason[:200]
        expense.save(update_fields=["status", "reversal_txn", "reversed_at", "reversal_reason"])
        return expense


def filing_check(*, institution: Institution, patient_id_number: str, day=None) -> dict:
    """For the institution API: is the patient insured in another city, and
    do they hold a filing for the institution's city valid on ``day``?
    An unknown patient gets the same refusal as an expense would."""
    from errands.selectors import valid_filing

    day = day or timezone.localdate()
    patient = person_by_id_number(parse_id_number(patient_id_number).value)
    if patient is None:
        raise ApplicationError(
            _("No insured person has this identity number."),
            code="unknown_patient",
            fields={"patient_id_number": [_("Not an insured person.")]},
        )
    cross = not errands_policy.same_city(institution.region, patient.insured_region)
    filing = valid_filing(patient, institution.region, day) if cross else None
    return {
        "date": day.isoformat(),
        "cross_region": cross,
        "filed": filing is not None,
        "filing": None
        if filing is None
        else {
            "kind": filing.kind,
            "valid_from": filing.start_date.isoformat(),
            "valid_until": filing.end_date.isoformat() if filing.end_date else None,
        },
    }
