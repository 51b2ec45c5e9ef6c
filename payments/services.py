"""Writes: importing contribution records, crediting personal accounts, and the
lifecycle of a record (arrears paid later, refunds, staff corrections).

See docs/adr/0002-rollover-and-crediting.md for what funds what,
docs/adr/0008-contribution-lifecycle.md for statuses, the crediting check,
refunds and the import limits, and README.md ("Importing contributions") for
the file format.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import heapq
import io
import itertools
import operator
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import MEMBER_POCKETS, AccountKind, JournalTransaction, LedgerAccount
from accounts.services import (
    InsufficientFunds,
    ledger_post,
    ledger_post_bulk,
    ledger_post_bulk_sql,
    ledger_reverse,
    member_pockets,
    system_account,
)
from audit.services import audit_record
from members.idnumber import mask_id_number, normalise, parse_id_number
from members.models import InsuranceType
from members.selectors import persons_by_id_numbers
from portal import private_files
from portal.csvsafe import csv_writer, neutralise_cell
from portal.errors import ApplicationError, Conflict
from portal.money import MAX_BASE_FEN, MAX_CONTRIBUTION_FEN, apply_rate, format_yuan, parse_amount

from .models import Contribution, ContributionStatus, ImportBatch, Payer, PolicyYear
from .selectors import PolicyCache, base_limits, policy_for

COLUMNS = [
    "id_number",
    "period",
    "base",
    "employer_amount",
    "individual_amount",
    "payer",
    "paid_on",
    "status",
]
CREDIT_KIND = "contribution.credit"
# What ``ledger_reverse`` names the reversal of a credit (docs/adr/0008).
REFUND_KIND = f"{CREDIT_KIND}.reversal"
# The prior-years pocket covering a refund the current pocket no longer holds.
COVER_KIND = "contribution.refund.cover"
_PAYERS = frozenset(Payer.values)
_STATUSES = frozenset(ContributionStatus.values)
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
_IMPORT_LOCK = 0x7061796D  # one import or correction at a time (PostgreSQL advisory lock)
# What makes a stored record "the same" as a row (then the row is already imported).
_SAME = ("declared_base_fen", "employer_fen", "individual_fen", "payer", "paid_on", "status")
# What a refund row must share with the paid record it refunds (its date paid
# may be left empty or hold the refund's date).
_SAME_REFUND = ("declared_base_fen", "employer_fen", "individual_fen", "payer")
# A stored record as the import reads it (a tuple, by position).
_STORED_FIELDS = ("id", "person_id", "period", *_SAME)
_AT = {name: i for i, name in enumerate(_STORED_FIELDS)}
_STATUS = _AT["status"]
_SAME_AT = slice(_AT[_SAME[0]], _AT[_SAME[-1]] + 1)  # _SAME, in order, in a stored tuple
_CHUNK_BYTES = 1 << 16
# The most entries a per-import memo of checked cells holds before it starts over.
_MEMO_MAX = 4096


def import_max_bytes() -> int:
    """The largest contributions file accepted (setting ``IMPORT_MAX_BYTES``)."""
    return int(getattr(settings, "IMPORT_MAX_BYTES", 20 * 1024 * 1024))


def report_max_rows() -> int:
    """Bad rows kept in full in a stored report (``IMPORT_REPORT_MAX_ROWS``);
    the rest are only counted."""
    return int(getattr(settings, "IMPORT_REPORT_MAX_ROWS", 1000))


def file_too_large(size: int | None = None) -> ApplicationError:
    cap = import_max_bytes()
    if size is None:
        message = _("The file is too large; the limit is %(cap)s bytes. Nothing was imported.") % {
            "cap": cap
        }
    else:
        message = _(
            "The file is too large (%(size)s bytes); the limit is %(cap)s bytes. "
            "Split it and import the parts. Nothing was imported."
        ) % {"size": size, "cap": cap}
    return ApplicationError(
        message, code="file_too_large", fields={"file": [message]}, status_code=413
    )


@dataclass(slots=True)
class Row:
    line: int
    person_id: int
    period: dt.date
    declared_base_fen: int
    base_fen: int
    employer_fen: int
    individual_fen: int
    credited_fen: int
    payer: str
    paid_on: dt.date | None
    status: str
    # the stored record a settling or refunding row acts on
    contribution_id: int | None = None

    def same_as(self, stored: tuple, names: tuple[str, ...] = _SAME) -> bool:
        """Against a stored record as ``_stored`` reads it."""
        if names is _SAME:  # the common case, as one tuple comparison
            return (
                self.declared_base_fen,
                self.employer_fen,
                self.individual_fen,
                self.payer,
                self.paid_on,
                self.status,
            ) == stored[_SAME_AT]
        return all(getattr(self, name) == stored[_AT[name]] for name in names)


@dataclass(slots=True)
class _Parsed:
    """One checked line, before persons and policies are looked up."""

    line: int
    number: str
    period: dt.date
    base: int
    employer: int
    individual: int
    payer: str
    paid_on: dt.date | None
    status: str


class Problems:
    """Bad rows: all counted, the ``keep`` lowest line numbers kept in full (a
    bounded heap), so a file of a million bad rows stores a small report."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.bad_rows = 0
        self._heap: list[tuple[int, int, list[tuple[str, str, str]]]] = []
        self._seq = itertools.count()

    def add(self, line: int, problems: list[tuple[str, str, str]]) -> None:
        """``problems`` of one line as (column, value, why); call once per line."""
        self.bad_rows += 1
        item = (-line, next(self._seq), problems)
        if len(self._heap) < self.keep:
            heapq.heappush(self._heap, item)
        elif self.keep and -line > self._heap[0][0]:
            heapq.heapreplace(self._heap, item)

    def one(self, line: int, column: str, value: str, why: str) -> None:
        self.add(line, [(column, value, why)])

    def rows(self) -> list[tuple[int, str, str, str]]:
        kept = sorted(self._heap, key=lambda item: (-item[0], item[1]))
        return [(-neg, c, v, p) for neg, _seq, problems in kept for c, v, p in problems]

    @property
    def left_out(self) -> int:
        return self.bad_rows - len(self._heap)


@dataclass
class ImportOutcome:
    rows_total: int = 0
    imported: int = 0
    settled: int = 0
    refunded: int = 0
    already: int = 0
    problems: Problems = field(default_factory=lambda: Problems(report_max_rows()))
    refused: str = ""


def credit_postings(
    *, receivable_id: int, pooled_id: int, current_id: int | None, row
) -> list[tuple[int, int]]:
    """One contribution's ledger postings (docs/adr/0002):
    contributions receivable gives up employer + individual amounts; the
    personal account receives ``credited``; the pooled fund receives the rest
    (for a retiree, whose credit comes from the pooled fund, the rest is
    negative). Zero postings are left out."""
    total = row.employer_fen + row.individual_fen
    postings: list[tuple[int, int]] = [
        (receivable_id, -total),
        (pooled_id, total - row.credited_fen),
    ]
    if row.credited_fen:
        assert current_id is not None  # a credit goes to an account that exists
        postings.append((current_id, row.credited_fen))
    return [(a, amt) for a, amt in postings if amt]


def contribution_key(contribution_id: int) -> str:
    return f"contribution:{contribution_id}:credit"


def refund_key(contribution_id: int) -> str:
    """The reversal of a refunded record's credit (docs/adr/0008)."""
    return f"contribution:{contribution_id}:refund"


def contribution_credit(*, contribution: Contribution):
    """Post one paid contribution to the ledger (idempotent by its key)."""
    if contribution.status != ContributionStatus.PAID:
        return None
    if (
        contribution.employer_fen + contribution.individual_fen == 0
        and not contribution.credited_fen
    ):
        return None
    current, _prior = member_pockets(contribution.person)
    return ledger_post(
        idempotency_key=contribution_key(contribution.pk),
        kind=CREDIT_KIND,
        postings=credit_postings(
            receivable_id=system_account(AccountKind.CONTRIBUTIONS_RECEIVABLE).pk,
            pooled_id=system_account(AccountKind.POOLED_FUND).pk,
            current_id=current.pk,
            row=contribution,
        ),
        memo=f"contribution {contribution.period:%Y-%m}",
    )


# --- What the policy gives ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    """What the policy gives for one declared base and scheme (all fen).
    ``employer_fen``/``individual_fen`` are None where the policy has no
    parameter for them (the resident scheme's flat contribution)."""

    base_fen: int
    employer_fen: int | None
    individual_fen: int | None
    credit_fen: int


def expected_amounts(
    policy: PolicyYear, *, declared_base_fen: int, insurance_type: str
) -> Expected:
    """The crediting rule (docs/adr/0008): clamp the base between the policy's
    floor and cap; an in-service employee owes ``apply_rate(base, rate)`` for
    each share and is credited ``apply_rate(individual, credit rate)``; a
    retiree owes nothing and is credited the fixed monthly credit; the resident
    scheme credits nothing."""
    floor, cap = base_limits(policy)
    base = min(max(declared_base_fen, floor), cap)
    if insurance_type == InsuranceType.EMPLOYEE:
        individual = apply_rate(base, policy.individual_rate)
        return Expected(
            base,
            apply_rate(base, policy.employer_rate),
            individual,
            apply_rate(individual, policy.credit_rate),
        )
    if insurance_type == InsuranceType.RETIRED:
        return Expected(base, 0, 0, policy.retiree_monthly_credit_fen)
    return Expected(base, None, None, 0)


def _mismatches(expected: Expected, employer_fen: int, individual_fen: int, region: str, year: int):
    out = []
    for column, want, got in (
        ("employer_amount", expected.employer_fen, employer_fen),
        ("individual_amount", expected.individual_fen, individual_fen),
    ):
        if want is not None and want != got:
            out.append(
                (
                    column,
                    format_yuan(got).replace(",", ""),
                    _(
                        "The policy of %(region)s in %(year)s gives %(expected)s yuan for the "
                        "base %(base)s; the file says %(given)s."
                    )
                    % {
                        "region": region,
                        "year": year,
                        "expected": format_yuan(want).replace(",", ""),
                        "base": format_yuan(expected.base_fen).replace(",", ""),
                        "given": format_yuan(got).replace(",", ""),
                    },
                )
            )
    return out


# --- Reading and checking the file -------------------------------------------


class _Refused(Exception):
    pass


class _Source:
    """The upload read in chunks: counted against the size limit, hashed, and
    decoded strictly as UTF-8 (a BOM allowed) into lines, so neither the
    whole bytes nor the whole text is ever held."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.newlines = 0
        self.cap = import_max_bytes()

    def lines(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        parts: list[str] = []
        while True:
            chunk = self.stream.read(_CHUNK_BYTES)
            if not chunk:
                break
            self.size += len(chunk)
            if self.size > self.cap:
                raise file_too_large()
            self.sha256.update(chunk)
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = self.newlines + exc.object.count(b"\n", 0, exc.start) + 1
                raise _Refused(
                    _(
                        "The file is not UTF-8 text (first bad byte on line %(line)s). It may be "
                        "GBK or another encoding: save it as “CSV UTF-8” and upload it again. "
                        "Nothing was imported."
                    )
                    % {"line": line}
                ) from None
            self.newlines += chunk.count(b"\n")
            if "\n" not in text and "\r" not in text:
                parts.append(text)  # inside one long line: no re-splitting
                continue
            pending = "".join(parts) + text
            parts.clear()
            lines = io.StringIO(pending, newline="").readlines()
            # the last piece may be an unfinished line (or a \r before its \n)
            if lines and not lines[-1].endswith("\n"):
                parts.append(lines.pop())
            yield from lines
        try:
            pending = "".join(parts) + decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _Refused(
                _(
                    "The file is not UTF-8 text (first bad byte on line %(line)s). It may be "
                    "GBK or another encoding: save it as “CSV UTF-8” and upload it again. "
                    "Nothing was imported."
                )
                % {"line": self.newlines + 1}
            ) from None
        if pending:
            yield from io.StringIO(pending, newline="").readlines()

    def drain(self) -> None:
        """Read what is left (to hash and size-check a refused file)."""
        while chunk := self.stream.read(_CHUNK_BYTES):
            self.size += len(chunk)
            if self.size > self.cap:
                raise file_too_large()
            self.sha256.update(chunk)


def _amount(value: str, column: str, max_fen: int, problems: list) -> int | None:
    if value == "":
        problems.append((column, value, _("An amount is required.")))
        return None
    try:
        return parse_amount(value, max_fen=max_fen)
    except ValidationError as exc:
        problems.append((column, value[:40], " ".join(exc.messages)))
        return None


def _period(value: str, today: dt.date, problems: list) -> dt.date | None:
    match = _PERIOD.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
        problems.append(("period", value[:40], _("A month is written YYYY-MM, e.g. 2026-03.")))
        return None
    period = dt.date(int(match.group(1)), int(match.group(2)), 1)
    if period > today.replace(day=1):
        problems.append(("period", value, _("This month is in the future.")))
        return None
    return period


def _paid_on(value: str, status: str, today: dt.date, problems: list) -> dt.date | None:
    if value == "":
        if status == ContributionStatus.PAID:
            problems.append(("paid_on", value, _("A paid record needs the date paid.")))
        return None
    try:
        if not value.isascii():
            raise ValueError
        day = dt.date.fromisoformat(value)
    except ValueError:
        problems.append(
            ("paid_on", value[:40], _("A date is written YYYY-MM-DD, e.g. 2026-03-15."))
        )
        return None
    if day > today:
        problems.append(("paid_on", value, _("The date paid is in the future.")))
        return None
    return day


def _parse(lines: Iterable[str], outcome: ImportOutcome) -> list[_Parsed]:
    """Checked rows; bad ones go to ``outcome.problems``. Streams the lines:
    each is checked as it is read and kept only as a small ``_Parsed``."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        outcome.refused = _("The file is empty or is not a CSV file.")
        return []
    header = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        outcome.refused = _(
            "The first line must name the columns; missing: %(missing)s. Expected: %(expected)s."
        ) % {"missing": ", ".join(missing), "expected": ",".join(COLUMNS)}
        return []
    today = timezone.localdate()
    problems_of = outcome.problems
    valid: list[_Parsed] = []
    # A file repeats the same people, months and amounts many times: check each
    # distinct value once (a million-row import spends its time here otherwise),
    # and each distinct combination of the cells after the identity number once
    # (``rests``, bounded: cleared when it grows past _MEMO_MAX, so a file of
    # all-different rows costs the per-cell checks and no more memory).
    id_of: dict[str, tuple[str, str | None]] = {}
    periods: dict[str, tuple] = {}
    amounts: dict[tuple[str, str], tuple] = {}
    paid_on: dict[tuple[str, str], tuple] = {}
    rests: dict[tuple[str, ...], tuple[tuple | None, list]] = {}
    limits = {
        "base": MAX_BASE_FEN,
        "employer_amount": MAX_CONTRIBUTION_FEN,
        "individual_amount": MAX_CONTRIBUTION_FEN,
    }
    rest_columns = COLUMNS[1:]  # every column but id_number, in COLUMNS' order
    rest_of = operator.itemgetter(*(header.index(c) for c in rest_columns))
    id_at = header.index("id_number")
    width = len(header)

    def check_rest(cells: tuple[str, ...]) -> tuple[tuple | None, list]:
        """(period, base, employer, individual, payer, paid_on, status) or
        None, and the problems of these cells, in the report's column order."""
        values = dict(zip(rest_columns, (cell.strip() for cell in cells), strict=True))
        problems: list[tuple[str, str, str]] = []
        raw_period = values["period"]
        if raw_period not in periods:
            found: list = []
            periods[raw_period] = (_period(raw_period, today, found), found)
        period, period_problems = periods[raw_period]
        problems.extend(period_problems)
        parsed_amounts = []
        for column in ("base", "employer_amount", "individual_amount"):
            key = (column, values[column])
            if key not in amounts:
                found = []
                amounts[key] = (_amount(values[column], column, limits[column], found), found)
            fen, amount_problems = amounts[key]
            parsed_amounts.append(fen)
            problems.extend(amount_problems)
        if values["payer"] not in _PAYERS:
            problems.append(
                ("payer", values["payer"][:40], _("The payer is “employer” or “individual”."))
            )
        status = values["status"]
        if status not in _STATUSES:
            problems.append(
                ("status", status[:40], _("The status is “paid”, “arrears” or “refunded”."))
            )
        day_key = (values["paid_on"], status)
        if day_key not in paid_on:
            found = []
            paid_on[day_key] = (_paid_on(day_key[0], status, today, found), found)
        day, paid_on_problems = paid_on[day_key]
        problems.extend(paid_on_problems)
        if problems:
            return None, problems
        return (period, *parsed_amounts, values["payer"], day, status), problems

    while True:
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            outcome.rows_total += 1
            problems_of.one(reader.line_num, "", "", _("Malformed line: %(why)s") % {"why": exc})
            continue
        if not raw or (len(raw) == 1 and not raw[0].strip()):
            continue  # blank line
        outcome.rows_total += 1
        line = reader.line_num
        if len(raw) != width:
            problems_of.one(
                line,
                "",
                "",
                _("Malformed line: %(got)s fields, expected %(expected)s.")
                % {"got": len(raw), "expected": width},
            )
            continue
        # The identity number is left for the one parser to strip (ASCII space
        # only: str.strip() would also drop ideographic and no-break spaces).
        raw_number = raw[id_at]
        known = id_of.get(raw_number)
        if known is None:
            number = normalise(raw_number)
            try:
                parse_id_number(number, today=today)
                known = id_of[raw_number] = (number, None)
            except ValidationError as exc:
                known = id_of[raw_number] = (number, " ".join(exc.messages))
        number, id_problem = known
        cells = rest_of(raw)
        checked = rests.get(cells)
        if checked is None:
            if len(rests) >= _MEMO_MAX:
                rests.clear()
            checked = rests[cells] = check_rest(cells)
        values, rest_problems = checked
        if id_problem is not None:
            problems_of.add(
                line, [("id_number", mask_id_number(number), id_problem), *rest_problems]
            )
        elif values is None:
            problems_of.add(line, list(rest_problems))
        else:
            valid.append(_Parsed(line, number, *values))
    return valid


def _resolve(parsed: list[_Parsed], outcome: ImportOutcome) -> list[Row]:
    """Persons, policy, clamped base, the policy check of both amounts, the
    credit; one line per person and month in a file."""
    persons = persons_by_id_numbers({p.number for p in parsed})
    policies = PolicyCache()
    policy_of: dict[tuple[str, int], PolicyYear | None] = {}
    seen: dict[tuple[int, dt.date], int] = {}
    # Many rows share a policy, scheme, base and amounts: judge them once
    # (bounded like the parser's memo).
    judged: dict[tuple, tuple[Expected, list]] = {}
    rows = []
    problems = outcome.problems
    paid = ContributionStatus.PAID
    for p in parsed:
        person = persons.get(p.number)
        if person is None:
            problems.one(
                p.line,
                "id_number",
                mask_id_number(p.number),
                _("Unknown person: nobody insured has this identity number."),
            )
            continue
        period = p.period
        region_year = (person.insured_region, period.year)
        if region_year in policy_of:
            policy = policy_of[region_year]
        else:
            policy = policy_of[region_year] = policies.get(*region_year)
        if policy is None:
            problems.one(
                p.line,
                "period",
                f"{period:%Y-%m}",
                _("There are no policy parameters for region %(region)s in %(year)s.")
                % {"region": person.insured_region, "year": period.year},
            )
            continue
        first = seen.setdefault((person.pk, period), p.line)
        if first != p.line:
            problems.one(
                p.line,
                "period",
                f"{period:%Y-%m}",
                _("Duplicate period: line %(first)s has the same person and month.")
                % {"first": first},
            )
            continue
        key = (policy.pk, person.insurance_type, p.base, p.employer, p.individual)
        verdict = judged.get(key)
        if verdict is None:
            expected = expected_amounts(
                policy, declared_base_fen=p.base, insurance_type=person.insurance_type
            )
            if len(judged) >= _MEMO_MAX:
                judged.clear()
            verdict = judged[key] = (
                expected,
                _mismatches(expected, p.employer, p.individual, policy.region, period.year),
            )
        expected, wrong = verdict
        if wrong:
            problems.add(p.line, list(wrong))
            continue
        rows.append(
            Row(
                p.line,
                person.pk,
                period,
                p.base,
                expected.base_fen,
                p.employer,
                p.individual,
                expected.credit_fen if p.status == paid else 0,
                p.payer,
                p.paid_on,
                p.status,
            )
        )
    return rows


def _stored(rows: list[Row]) -> dict[tuple[int, dt.date], list[tuple]]:
    """What is already stored for the rows' persons and months, as tuples of
    ``_STORED_FIELDS`` (a re-imported file of a million rows reads a million
    records: tuples, not dicts)."""
    stored: dict[tuple[int, dt.date], list[tuple]] = {}
    person_ids = sorted({r.person_id for r in rows})
    periods = {r.period for r in rows}
    lo, hi = (min(periods), max(periods)) if periods else (None, None)
    wanted = {(r.person_id, r.period) for r in rows}
    for start in range(0, len(person_ids), 5000):
        qs = Contribution.objects.filter(
            person_id__in=person_ids[start : start + 5000], period__gte=lo, period__lte=hi
        ).values_list(*_STORED_FIELDS)
        for values in qs.iterator(chunk_size=20000):
            if (values[1], values[2]) in wanted:
                stored.setdefault((values[1], values[2]), []).append(values)
    return stored


@dataclass
class _Plan:
    new: list[Row] = field(default_factory=list)  # inserted
    settle: list[Row] = field(default_factory=list)  # arrears record turned paid
    refund: list[Row] = field(default_factory=list)  # paid record turned refunded


def _plan(rows: list[Row], outcome: ImportOutcome) -> _Plan:
    """Each row against what is stored for its person and month (at most one
    live, i.e. non-refunded, record; any number of refunded ones):

    - the same record stored: already imported, nothing changes;
    - ``paid`` over a live ``arrears`` record: the arrears is settled (the
      record turns paid with the row's values and is credited);
    - ``refunded`` matching the live ``paid`` record: that record is refunded
      and its credit reversed; matching a refunded record: already imported;
    - ``paid``/``arrears`` with no live record: a new record;
    - anything else (a different record for a live month, arrears over a paid
      month, a refund with nothing paid to refund) is a bad row.
    """
    stored = _stored(rows)
    plan = _Plan()
    problems = outcome.problems
    paid, arrears, refunded = (
        ContributionStatus.PAID,
        ContributionStatus.ARREARS,
        ContributionStatus.REFUNDED,
    )
    nothing: list[tuple] = []
    for row in rows:
        existing = stored.get((row.person_id, row.period), nothing)
        live = None
        for c in existing:
            if c[_STATUS] != refunded:
                live = c
                break
        if row.status == refunded:
            if live is not None and live[_STATUS] == paid:
                if row.same_as(live, _SAME_REFUND):
                    row.contribution_id = live[0]
                    plan.refund.append(row)
                else:
                    problems.one(
                        row.line,
                        "period",
                        f"{row.period:%Y-%m}",
                        _(
                            "The refund does not match the paid record stored for this month "
                            "(base, amounts or payer differ)."
                        ),
                    )
            elif any(c[_STATUS] == refunded and row.same_as(c, _SAME_REFUND) for c in existing):
                outcome.already += 1
            else:
                problems.one(
                    row.line,
                    "status",
                    row.status,
                    _("Nothing to refund: no paid record is stored for this person and month."),
                )
            continue
        if live is None:
            plan.new.append(row)
        elif row.same_as(live):
            outcome.already += 1
        elif row.status == paid and live[_STATUS] == arrears:
            row.contribution_id = live[0]
            plan.settle.append(row)
        elif row.status == arrears and live[_STATUS] == paid:
            problems.one(
                row.line,
                "status",
                row.status,
                _("This month is already paid: an arrears row cannot undo a payment."),
            )
        else:
            problems.one(
                row.line,
                "period",
                f"{row.period:%Y-%m}",
                _(
                    "Duplicate period: a different record for this person and month is "
                    "already stored."
                ),
            )
    return plan


# --- Writing -------------------------------------------------------------------

_INSERT_COLUMNS = (
    "person_id",
    "period",
    "declared_base_fen",
    "base_fen",
    "employer_fen",
    "individual_fen",
    "credited_fen",
    "payer",
    "paid_on",
    "status",
)


def _null(value: object) -> object:
    """A value for a text COPY: None is ``\\N``."""
    return "\\N" if value is None else value


def _stage_postgresql(plan: _Plan) -> None:
    """COPY the new and settling rows into a staging table."""
    cols = ", ".join(_INSERT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _contrib_stage ("
            "line integer, contribution_id bigint, person_id bigint, period date, "
            "declared_base_fen bigint, base_fen bigint, employer_fen bigint, "
            "individual_fen bigint, credited_fen bigint, payer text, paid_on date, status text) "
            "ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE _contrib_stage")
        # Text COPY written directly: every value is an integer, a date, None
        # or a payer or status from a fixed set of words, so nothing needs
        # escaping (a third of the time of a row-by-row ``write_row``).
        raw = getattr(cursor, "cursor", cursor)
        rows = itertools.chain(plan.new, plan.settle)
        with raw.copy(f"COPY _contrib_stage (line, contribution_id, {cols}) FROM STDIN") as cp:
            while chunk := list(itertools.islice(rows, 20000)):
                cp.write(
                    "".join(
                        f"{r.line}\t{_null(r.contribution_id)}\t{r.person_id}\t{r.period}\t"
                        f"{r.declared_base_fen}\t{r.base_fen}\t{r.employer_fen}\t"
                        f"{r.individual_fen}\t{r.credited_fen}\t{r.payer}\t"
                        f"{_null(r.paid_on)}\t{r.status}\n"
                        for r in chunk
                    )
                )
        cursor.execute("ANALYZE _contrib_stage")


def _changed_meanwhile() -> Conflict:
    """Only if the import lock was bypassed: nothing of the import is kept."""
    return Conflict(_("The contributions changed during the import; import the file again."))


def _write_postgresql(plan: _Plan, batch: ImportBatch) -> tuple[int, int]:
    """One INSERT ... SELECT for the new rows and one UPDATE ... FROM for the
    settled arrears (only records still in arrears). Returns (inserted,
    settled).

    The plan was made under the import lock, so no new row's month is taken;
    if a writer that bypassed the lock took one meanwhile, the unique index
    refuses the INSERT (it never doubles a month) and the whole import is a
    Conflict, as a short count is below. A plain INSERT, not ON CONFLICT DO
    NOTHING: the speculative insertion of ON CONFLICT cost 0.5 s per 100,000
    rows for a case that only a bypassed lock can make."""
    cols = ", ".join(_INSERT_COLUMNS)
    _stage_postgresql(plan)
    with connection.cursor() as cursor:
        try:
            cursor.execute(
                f"""
                INSERT INTO payments_contribution ({cols}, batch_id, created_at)
                SELECT {cols}, %s, now() FROM _contrib_stage
                 WHERE contribution_id IS NULL ORDER BY line
                """,  # noqa: S608 (column names are constants)
                [batch.pk],
            )
        except IntegrityError as exc:
            diag = getattr(exc.__cause__, "diag", None)
            if getattr(diag, "constraint_name", None) == "contribution_one_per_person_month":
                raise _changed_meanwhile() from None
            raise
        inserted = cursor.rowcount
        cursor.execute(
            """
            UPDATE payments_contribution c
               SET status = 'paid', paid_on = s.paid_on, declared_base_fen = s.declared_base_fen,
                   base_fen = s.base_fen, employer_fen = s.employer_fen,
                   individual_fen = s.individual_fen, credited_fen = s.credited_fen,
                   payer = s.payer, settled_batch_id = %s
              FROM _contrib_stage s
             WHERE s.contribution_id = c.id AND c.status = 'arrears'
            """,
            [batch.pk],
        )
        settled = cursor.rowcount
    return inserted, settled


def _write_portable(plan: _Plan, batch: ImportBatch) -> tuple[list[tuple[int, Row]], int]:
    objs = Contribution.objects.bulk_create(
        [
            Contribution(batch=batch, **{c: getattr(r, c) for c in _INSERT_COLUMNS})
            for r in plan.new
        ],
        batch_size=2000,
    )
    done = [(obj.pk, r) for obj, r in zip(objs, plan.new, strict=True)]
    settled = 0
    for r in plan.settle:
        assert r.contribution_id is not None  # a settled row names its record
        changed = Contribution.objects.filter(
            pk=r.contribution_id, status=ContributionStatus.ARREARS
        ).update(
            settled_batch=batch,
            **{c: getattr(r, c) for c in _INSERT_COLUMNS if c not in ("person_id", "period")},
        )
        if changed:
            settled += 1
            done.append((r.contribution_id, r))
    return done, settled


def _current_pockets(person_ids: Iterable[int]) -> dict[int, int]:
    """``{person id: current-year pocket id}``, creating missing pockets in bulk."""
    ids = sorted(set(person_ids))
    LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(
                code=f"member:{pid}:current", kind=AccountKind.MEMBER_CURRENT, person_id=pid
            )
            for pid in ids
        ],
        ignore_conflicts=True,
        batch_size=5000,
    )
    found: dict[int, int] = {}
    for start in range(0, len(ids), 5000):
        found.update(
            LedgerAccount.objects.filter(
                person_id__in=ids[start : start + 5000], kind=AccountKind.MEMBER_CURRENT
            ).values_list("person_id", "id")
        )
    return found


def _credit(done: list[tuple[int, Row]]) -> int:
    """Credit every newly paid record: one ledger transaction per record, all
    inserted together (``ledger_post_bulk``)."""
    paid = [
        (cid, r)
        for cid, r in done
        if r.status == ContributionStatus.PAID
        and (r.employer_fen + r.individual_fen or r.credited_fen)
    ]
    if not paid:
        return 0
    receivable = system_account(AccountKind.CONTRIBUTIONS_RECEIVABLE).pk
    pooled = system_account(AccountKind.POOLED_FUND).pk
    pockets = _current_pockets(r.person_id for _cid, r in paid if r.credited_fen)
    return ledger_post_bulk(
        kind=CREDIT_KIND,
        entries=(
            (
                contribution_key(cid),
                credit_postings(
                    receivable_id=receivable,
                    pooled_id=pooled,
                    current_id=pockets.get(r.person_id),
                    row=r,
                ),
                f"contribution {r.period:%Y-%m}",
            )
            for cid, r in paid
        ),
    )


# The postings of ``credit_postings`` for every record the batch inserted or
# settled that is paid (same rule: receivable -total, pooled total - credited,
# current pocket credited; zero postings left out).
_CREDIT_POSTINGS_SQL = """
SELECT 'contribution:' || c.id || ':credit', 'contribution ' || to_char(c.period, 'YYYY-MM'),
       p.account_id, p.amount
  FROM payments_contribution c
  LEFT JOIN accounts_ledgeraccount cur
    ON cur.person_id = c.person_id AND cur.kind = 'member_current'
  CROSS JOIN LATERAL (VALUES
    (%(receivable)s::bigint, -(c.employer_fen + c.individual_fen)),
    (%(pooled)s::bigint, c.employer_fen + c.individual_fen - c.credited_fen),
    (cur.id, c.credited_fen)
  ) AS p(account_id, amount)
 WHERE (c.batch_id = %(batch)s OR c.settled_batch_id = %(batch)s) AND c.status = 'paid'
   AND (c.employer_fen + c.individual_fen <> 0 OR c.credited_fen <> 0)
   AND p.amount <> 0
"""


def _credit_postgresql(batch: ImportBatch) -> int:
    """``_credit`` for PostgreSQL, set-based: the batch's newly paid records
    (inserted or settled) are read back in SQL, the missing current-year pockets created
    with one INSERT, and the ledger rows built by ``ledger_post_bulk_sql`` (no
    posting goes through Python). One ledger transaction per record; a key
    already stored (a record credited before) is skipped."""
    receivable = system_account(AccountKind.CONTRIBUTIONS_RECEIVABLE).pk
    pooled = system_account(AccountKind.POOLED_FUND).pk
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO accounts_ledgeraccount (code, kind, person_id, balance_fen)
            SELECT DISTINCT 'member:' || s.person_id || ':current', 'member_current',
                   s.person_id, 0
              FROM _contrib_stage s
             WHERE s.status = 'paid' AND s.credited_fen <> 0
             ORDER BY 1
            ON CONFLICT DO NOTHING
            """
        )
    return ledger_post_bulk_sql(
        kind=CREDIT_KIND,
        postings_sql=_CREDIT_POSTINGS_SQL,
        params={"batch": batch.pk, "receivable": receivable, "pooled": pooled},
    )


# --- Refunds -------------------------------------------------------------------


def _reverse_credit(contribution: Contribution, *, memo: str) -> JournalTransaction | None:
    """Reverse a paid record's credit once (key ``contribution:<id>:refund``),
    always as the exact mirror of the credit (``ledger_reverse``).

    If the current-year pocket no longer holds the credited amount (spent, or
    moved by the year-end rollover), the prior-years pocket first covers the
    shortfall with one transfer into the current pocket (key
    ``contribution:<id>:refund-cover``, kind ``contribution.refund.cover``);
    if both together cannot cover it, InsufficientFunds (nothing is written,
    the record stays paid). Call under the import lock, inside a transaction."""
    credit = (
        JournalTransaction.objects.filter(idempotency_key=contribution_key(contribution.pk))
        .prefetch_related("postings")
        .first()
    )
    if credit is None:
        return None  # a record that moved nothing was never posted
    key = refund_key(contribution.pk)
    done = JournalTransaction.objects.filter(idempotency_key=key).first()
    if done is not None:
        return done
    pockets = {
        a.pk: a
        for a in LedgerAccount.objects.select_for_update()
        .filter(person_id=contribution.person_id, kind__in=MEMBER_POCKETS)
        .order_by("pk")
    }
    current = next((p for p in credit.postings.all() if p.account_id in pockets), None)
    if current is not None and pockets[current.account_id].balance_fen < current.amount_fen:
        short = current.amount_fen - pockets[current.account_id].balance_fen
        prior = next((a for a in pockets.values() if a.kind == AccountKind.MEMBER_PRIOR), None)
        if prior is None or prior.balance_fen < short:
            raise InsufficientFunds(pockets[current.account_id], current.amount_fen)
        ledger_post(
            idempotency_key=f"contribution:{contribution.pk}:refund-cover",
            kind=COVER_KIND,
            postings=[(prior.pk, -short), (current.account_id, short)],
            memo=f"{memo}: from earlier years' money",
        )
    return ledger_reverse(original=credit, idempotency_key=key, memo=memo)


def _refund(contribution_id: int) -> tuple[Contribution | None, str]:
    """Turn one paid record refunded and reverse its credit, in a savepoint:
    (the record, "") or (None, why it was refused)."""
    contribution = (
        Contribution.objects.select_for_update()
        .filter(pk=contribution_id, status=ContributionStatus.PAID)
        .first()
    )
    if contribution is None:
        return None, _("This record is no longer paid.")
    try:
        with transaction.atomic():
            _reverse_credit(
                contribution, memo=f"refund of contribution {contribution.period:%Y-%m}"
            )
            contribution.status = ContributionStatus.REFUNDED
            contribution.save(update_fields=["status"])
            return contribution, ""
    except InsufficientFunds:
        return None, _(
            "The credit of %(amount)s yuan cannot be reversed: the member's personal account "
            "(this year's and earlier years' money together) no longer holds it. Nothing was "
            "changed; settle it with the member first."
        ) % {"amount": format_yuan(contribution.credited_fen)}


def _refund_rows(rows: list[Row], outcome: ImportOutcome) -> int:
    done = 0
    for row in rows:
        assert row.contribution_id is not None  # a refund row names its record
        contribution, why = _refund(row.contribution_id)
        if contribution is None:
            outcome.problems.one(row.line, "status", row.status, why)
        else:
            done += 1
    return done


# --- The report ------------------------------------------------------------------


def report_cell(value: object) -> str:
    """A report cell as text, neutralised against spreadsheet formulas by the
    portal's one CSV rule (portal.csvsafe, docs/adr/0007)."""
    return neutralise_cell(str(value))


def reports_dir() -> Path:
    return private_files.folder("imports")


def report_path(name: str) -> Path:
    return private_files.path_in("imports", name)


def _store_report(text: str) -> str:
    """Write a report under a random name in private storage; return the name."""
    return private_files.write("imports", text.encode("utf-8"))


def _report(problems: Problems) -> str:
    out = io.StringIO()
    writer = csv_writer(out)  # file cells are neutralised (docs/adr/0007)
    writer.writerow(["line", "column", "value", "problem"])
    writer.writerows([report_cell(c) for c in row] for row in problems.rows())
    if problems.left_out:
        writer.writerow(
            [
                "",
                "",
                "",
                report_cell(
                    _("… and %(count)s more bad rows, not listed.") % {"count": problems.left_out}
                ),
            ]
        )
    return out.getvalue()


def import_report_text(batch: ImportBatch) -> str:
    """The stored bad-row report of a batch ("" if none)."""
    if not batch.report_name:
        return ""
    return report_path(batch.report_name).read_text(encoding="utf-8")


def report_header() -> list[str]:
    """The report's column names in the reader's language (stored in English,
    the file's own column names, so a report reads the same to anyone)."""
    return [_("Line"), _("Column"), _("Value"), _("Problem")]


def import_report_rows(batch: ImportBatch, *, limit: int) -> list[list[str]]:
    """The first ``limit`` rows of the stored report, for the result page."""
    text = import_report_text(batch)
    if not text:
        return []
    reader = csv.reader(io.StringIO(text))
    next(reader, None)  # the stored header
    return [row for _n, row in zip(range(limit), reader, strict=False)]


# --- The import -------------------------------------------------------------------


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK])


def contributions_import(
    *, data: bytes | BinaryIO, file_name: str, uploaded_by=None, request=None
) -> ImportBatch:
    """Import a contributions CSV (columns: see ``COLUMNS`` and README.md).

    1. Read ``data`` (bytes or a binary file) in chunks, at most
       ``IMPORT_MAX_BYTES`` (more raises ApplicationError ``file_too_large``
       and stores nothing); decode strictly as UTF-8 (BOM allowed): anything
       else refuses the whole file, naming the first bad line, as does a
       missing column.
    2. Check every row as it is read (identity number, month, every amount
       through ``parse_amount``, payer, status, date paid), then look the
       persons and policies up in bulk and check both amounts against what the
       policy gives for the clamped base; a bad row is reported (line, column,
       why) and skipped, the good rows go on.
    3. Under one import lock, each row against what is stored (``_plan``):
       already imported, new, an arrears month now paid, a paid month
       refunded, or a bad row.
    4. Insert the new rows and settle the arrears in bulk (COPY + one
       statement each on PostgreSQL), credit every newly paid record (one
       ledger transaction each, in one statement), refund row by row (each
       reverses its credit once).
    The batch records the counts; the bad-row report is stored as a file.
    """
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    size = getattr(stream, "size", None)
    if size is not None and size > import_max_bytes():
        raise file_too_large(size)
    outcome = ImportOutcome()
    source = _Source(stream)
    try:
        parsed = _parse(source.lines(), outcome)
    except _Refused as exc:
        parsed, outcome.refused = [], str(exc)
    if outcome.refused:
        source.drain()
    with transaction.atomic():
        _lock()
        if connection.vendor == "postgresql":
            # The staging, credit and ledger statements sort and hash every row
            # of the file: in memory, not in temporary files (this transaction only).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '64MB'")
        batch = ImportBatch.objects.create(
            uploaded_by=uploaded_by if getattr(uploaded_by, "is_authenticated", False) else None,
            file_name=file_name[:255],
            sha256=source.sha256.hexdigest(),
        )
        if not outcome.refused:
            plan = _plan(_resolve(parsed, outcome), outcome)
            del parsed
            if plan.new or plan.settle:
                if connection.vendor == "postgresql":
                    outcome.imported, outcome.settled = _write_postgresql(plan, batch)
                    _credit_postgresql(batch)
                else:
                    done, outcome.settled = _write_portable(plan, batch)
                    outcome.imported = len(done) - outcome.settled
                    _credit(done)
                if outcome.imported + outcome.settled != len(plan.new) + len(plan.settle):
                    raise _changed_meanwhile()
            outcome.refunded = _refund_rows(plan.refund, outcome)
        batch.rows_total = outcome.rows_total
        batch.rows_imported = outcome.imported
        batch.rows_settled = outcome.settled
        batch.rows_refunded = outcome.refunded
        batch.rows_already = outcome.already
        batch.rows_bad = outcome.problems.bad_rows
        batch.refused = outcome.refused
        if outcome.problems.bad_rows:
            batch.report_name = _store_report(_report(outcome.problems))
        batch.save()
        audit_record(
            actor=uploaded_by,
            action="contributions.import",
            target=batch,
            detail={
                "file": batch.file_name,
                "sha256": batch.sha256,
                "imported": batch.rows_imported,
                "settled": batch.rows_settled,
                "refunded": batch.rows_refunded,
                "already": batch.rows_already,
                "bad": batch.rows_bad,
                "refused": bool(batch.refused),
            },
            request=request,
        )
    return batch


# --- Staff corrections -------------------------------------------------------------


def _for_correction(*, contribution_id: int) -> Contribution:
    contribution = (
        Contribution.objects.select_for_update()
        .select_related("person")
        .filter(pk=contribution_id)
        .first()
    )
    if contribution is None:
        raise ApplicationError(_("No such contribution record."), code="not_found", status_code=404)
    return contribution


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ApplicationError(
            _("Give the reason for the correction (at least 5 characters)."),
            fields={"reason": [_("Give the reason for the correction (at least 5 characters).")]},
        )
    return reason[:500]


def contribution_mark_paid(
    *, contribution_id: int, paid_on: dt.date, reason: str, actor, request=None
) -> Contribution:
    """Staff: an arrears month was paid on ``paid_on``. The record turns paid,
    is credited what the policy gives for it (once: key
    ``contribution:<id>:credit``) and one audit event records who, when, why."""
    reason = _reason(reason)
    if paid_on > timezone.localdate():
        raise ApplicationError(
            _("The date paid is in the future."),
            fields={"paid_on": [_("The date paid is in the future.")]},
        )
    with transaction.atomic():
        _lock()
        contribution = _for_correction(contribution_id=contribution_id)
        if contribution.status != ContributionStatus.ARREARS:
            raise Conflict(
                _("Only a month in arrears can be marked paid; this one is %(status)s.")
                % {"status": contribution.get_status_display()},
                code="not_in_arrears",
            )
        person = contribution.person
        policy = policy_for(region=person.insured_region, year=contribution.period.year)
        if policy is None:
            raise ApplicationError(
                _("There are no policy parameters for region %(region)s in %(year)s.")
                % {"region": person.insured_region, "year": contribution.period.year},
                code="no_policy",
            )
        expected = expected_amounts(
            policy,
            declared_base_fen=contribution.declared_base_fen,
            insurance_type=person.insurance_type,
        )
        wrong = _mismatches(
            expected,
            contribution.employer_fen,
            contribution.individual_fen,
            policy.region,
            contribution.period.year,
        )
        if wrong:
            raise ApplicationError(
                " ".join(why for _c, _v, why in wrong), code="amounts_disagree_with_policy"
            )
        contribution.status = ContributionStatus.PAID
        contribution.paid_on = paid_on
        contribution.base_fen = expected.base_fen
        contribution.credited_fen = expected.credit_fen
        contribution.save(update_fields=["status", "paid_on", "base_fen", "credited_fen"])
        credit = contribution_credit(contribution=contribution)
        audit_record(
            actor=actor,
            action="contributions.mark_paid",
            subject_person=person,
            target=contribution,
            detail={
                "period": f"{contribution.period:%Y-%m}",
                "paid_on": paid_on.isoformat(),
                "credited_fen": contribution.credited_fen,
                "transaction": credit.idempotency_key if credit else None,
                "reason": reason,
            },
            request=request,
        )
    return contribution


def contribution_refund(*, contribution_id: int, reason: str, actor, request=None) -> Contribution:
    """Staff: a paid month was refunded. The record turns refunded and its
    credit is reversed once (key ``contribution:<id>:refund``; see
    ``_reverse_credit`` for a pocket that no longer holds it); one audit
    event records who, when, why."""
    reason = _reason(reason)
    with transaction.atomic():
        _lock()
        contribution = _for_correction(contribution_id=contribution_id)
        if contribution.status != ContributionStatus.PAID:
            raise Conflict(
                _("Only a paid month can be refunded; this one is %(status)s.")
                % {"status": contribution.get_status_display()},
                code="not_paid",
            )
        if contribution.payer == Payer.RELATIVE:
            # Its money came from a member's surplus, not through a credit: a
            # plain refund would leave it in the resident fund (docs/adr/0018).
            raise Conflict(
                _(
                    "This contribution was paid from a relative's prior-years surplus; "
                    "it cannot be refunded here."
                ),
                code="paid_from_surplus",
            )
        refunded, why = _refund(contribution.pk)
        if refunded is None:
            raise Conflict(why, code="refund_not_covered")
        audit_record(
            actor=actor,
            action="contributions.refund",
            subject_person=contribution.person,
            target=contribution,
            detail={
                "period": f"{contribution.period:%Y-%m}",
                "credited_fen": contribution.credited_fen,
                "transaction": refund_key(contribution.pk),
                "reason": reason,
            },
            request=request,
        )
    return refunded
