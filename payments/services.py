"""Writes: importing contribution records and crediting personal accounts.

See docs/adr/0002-rollover-and-crediting.md for what funds what, and README.md
("Importing contributions") for the file format.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import AccountKind, LedgerAccount
from accounts.services import (
    copy_rows,
    ledger_post,
    ledger_post_bulk,
    ledger_post_bulk_sql,
    system_account,
)
from audit.services import audit_record
from members.idnumber import mask_id_number, normalise, parse_id_number
from members.selectors import persons_by_id_numbers
from portal.csvsafe import csv_writer
from portal.money import to_fen

from .models import Contribution, ContributionStatus, ImportBatch, Payer
from .selectors import PolicyCache, credit_for

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
_PAYERS = frozenset(Payer.values)
_STATUSES = frozenset(ContributionStatus.values)
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
_IMPORT_LOCK = 0x7061796D  # one import at a time (PostgreSQL advisory lock)
# What makes a stored record "the same" as a row (then the row is already imported).
_SAME = ("declared_base_fen", "employer_fen", "individual_fen", "payer", "paid_on", "status")


@dataclass
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

    def same_as(self, stored: dict) -> bool:
        return all(getattr(self, name) == stored[name] for name in _SAME)


@dataclass
class ImportOutcome:
    rows_total: int = 0
    imported: list[Row] = field(default_factory=list)
    already: int = 0
    # (line, column, value, problem)
    errors: list[tuple[int, str, str, str]] = field(default_factory=list)
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
    postings = [(receivable_id, -total), (pooled_id, total - row.credited_fen)]
    if row.credited_fen:
        postings.append((current_id, row.credited_fen))
    return [(a, amt) for a, amt in postings if amt]


def contribution_key(contribution_id: int) -> str:
    return f"contribution:{contribution_id}:credit"


def contribution_credit(*, contribution: Contribution):
    """Post one paid contribution to the ledger (idempotent by its key)."""
    from accounts.services import member_pockets

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


# --- Reading and checking the file -------------------------------------------


def _decode(data: bytes) -> tuple[str | None, str]:
    """UTF-8 (a BOM is allowed), strictly; otherwise a message naming the line."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, _(
            "The file is not UTF-8 text (first bad byte on line %(line)s). It may be GBK or "
            "another encoding: save it as “CSV UTF-8” and upload it again. Nothing was imported."
        ) % {"line": line}


def _amount(value: str, column: str, problems: list) -> int | None:
    if value == "":
        problems.append((column, value, _("An amount is required.")))
        return None
    try:
        fen = to_fen(value)
    except ValidationError as exc:
        problems.append((column, value, " ".join(exc.messages)))
        return None
    if fen < 0:
        problems.append((column, value, _("An amount cannot be negative.")))
        return None
    return fen


def _period(value: str, today: dt.date, problems: list) -> dt.date | None:
    match = _PERIOD.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        problems.append(("period", value, _("A month is written YYYY-MM, e.g. 2026-03.")))
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
        day = dt.date.fromisoformat(value)
    except ValueError:
        problems.append(("paid_on", value, _("A date is written YYYY-MM-DD, e.g. 2026-03-15.")))
        return None
    if day > today:
        problems.append(("paid_on", value, _("The date paid is in the future.")))
        return None
    return day


def _parse(text: str, outcome: ImportOutcome) -> list[tuple[int, dict, str]]:
    """Rows as ``(line, values, normalised id number)``; bad ones go to ``outcome``."""
    reader = csv.reader(io.StringIO(text, newline=""))
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
    index = {c: header.index(c) for c in COLUMNS}
    rows = []
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            outcome.rows_total += 1
            outcome.errors.append(
                (reader.line_num, "", "", _("Malformed line: %(why)s") % {"why": exc})
            )
            continue
        if not raw or (len(raw) == 1 and not raw[0].strip()):
            continue  # blank line
        outcome.rows_total += 1
        if len(raw) != len(header):
            outcome.errors.append(
                (
                    reader.line_num,
                    "",
                    "",
                    _("Malformed line: %(got)s fields, expected %(expected)s.")
                    % {"got": len(raw), "expected": len(header)},
                )
            )
            continue
        # The identity number is left for the one parser to strip (ASCII space
        # only: str.strip() would also drop ideographic and no-break spaces).
        rows.append(
            (
                reader.line_num,
                {c: raw[i] if c == "id_number" else raw[i].strip() for c, i in index.items()},
            )
        )
    today = timezone.localdate()
    valid = []
    # A file repeats the same people, months and amounts many times: check each
    # distinct value once (a million-row import spends its time here otherwise).
    id_problems: dict[str, str | None] = {}
    periods: dict[str, tuple] = {}
    amounts: dict[tuple[str, str], tuple] = {}
    numbers: dict[str, str] = {}
    paid_on: dict[tuple[str, str], tuple] = {}
    for line, values in rows:
        problems: list[tuple[str, str, str]] = []
        raw_number = values["id_number"]
        number = numbers.get(raw_number)
        if number is None:
            number = numbers[raw_number] = normalise(raw_number)
        if number not in id_problems:
            try:
                parse_id_number(number, today=today)
                id_problems[number] = None
            except ValidationError as exc:
                id_problems[number] = " ".join(exc.messages)
        if id_problems[number] is not None:
            problems.append(("id_number", mask_id_number(number), id_problems[number]))
        raw_period = values["period"]
        if raw_period not in periods:
            found: list = []
            periods[raw_period] = (_period(raw_period, today, found), found)
        values["_period"], period_problems = periods[raw_period]
        problems.extend(period_problems)
        for column in ("base", "employer_amount", "individual_amount"):
            key = (column, values[column])
            if key not in amounts:
                found = []
                amounts[key] = (_amount(values[column], column, found), found)
            values["_" + column], amount_problems = amounts[key]
            problems.extend(amount_problems)
        if values["payer"] not in _PAYERS:
            problems.append(
                ("payer", values["payer"], _("The payer is “employer” or “individual”."))
            )
        status = values["status"]
        if status not in _STATUSES:
            problems.append(("status", status, _("The status is “paid”, “arrears” or “refunded”.")))
        key = (values["paid_on"], status)
        if key not in paid_on:
            found = []
            paid_on[key] = (_paid_on(key[0], status, today, found), found)
        values["_paid_on"], paid_on_problems = paid_on[key]
        problems.extend(paid_on_problems)
        if problems:
            outcome.errors.extend((line, c, v, p) for c, v, p in problems)
        else:
            valid.append((line, values, number))
    return valid


def _resolve(parsed: list[tuple[int, dict, str]], outcome: ImportOutcome) -> list[Row]:
    """Persons, policy, clamped base and credit; duplicates within the file."""
    persons = persons_by_id_numbers({number for _line, _v, number in parsed})
    policies = PolicyCache()
    seen: dict[tuple[int, dt.date], int] = {}
    # Many rows share a policy, base and amount: clamp and credit each once.
    clamped: dict[tuple[int, int], int] = {}
    credits: dict[tuple[int, str, int, str], int] = {}
    rows = []
    for line, v, number in parsed:
        person = persons.get(number)
        if person is None:
            outcome.errors.append(
                (
                    line,
                    "id_number",
                    mask_id_number(number),
                    _("Unknown person: nobody insured has this identity number."),
                )
            )
            continue
        period = v["_period"]
        policy = policies.get(person.insured_region, period.year)
        if policy is None:
            outcome.errors.append(
                (
                    line,
                    "period",
                    v["period"],
                    _("There are no policy parameters for region %(region)s in %(year)s.")
                    % {"region": person.insured_region, "year": period.year},
                )
            )
            continue
        if v["status"] != ContributionStatus.REFUNDED:
            first = seen.setdefault((person.pk, period), line)
            if first != line:
                outcome.errors.append(
                    (
                        line,
                        "period",
                        v["period"],
                        _("Duplicate period: line %(first)s has the same person and month.")
                        % {"first": first},
                    )
                )
                continue
        key = (policy.pk, v["_base"])
        base_fen = clamped.get(key)
        if base_fen is None:
            base_fen = clamped[key] = policies.clamp(policy, v["_base"])
        key = (policy.pk, person.insurance_type, v["_individual_amount"], v["status"])
        credited = credits.get(key)
        if credited is None:
            credited = credits[key] = credit_for(
                policy,
                insurance_type=person.insurance_type,
                individual_fen=v["_individual_amount"],
                status=v["status"],
            )
        rows.append(
            Row(
                line=line,
                person_id=person.pk,
                period=period,
                declared_base_fen=v["_base"],
                base_fen=base_fen,
                employer_fen=v["_employer_amount"],
                individual_fen=v["_individual_amount"],
                credited_fen=credited,
                payer=v["payer"],
                paid_on=v["_paid_on"],
                status=v["status"],
            )
        )
    return rows


def _stored(rows: list[Row]) -> dict[tuple[int, dt.date], list[dict]]:
    """What is already stored for the rows' persons and months."""
    stored: dict[tuple[int, dt.date], list[dict]] = {}
    person_ids = sorted({r.person_id for r in rows})
    periods = {r.period for r in rows}
    lo, hi = (min(periods), max(periods)) if periods else (None, None)
    for start in range(0, len(person_ids), 5000):
        qs = Contribution.objects.filter(
            person_id__in=person_ids[start : start + 5000], period__gte=lo, period__lte=hi
        ).values("person_id", "period", *_SAME)
        for c in qs.iterator(chunk_size=20000):
            stored.setdefault((c["person_id"], c["period"]), []).append(c)
    return stored


def _split_new(rows: list[Row], outcome: ImportOutcome) -> list[Row]:
    stored = _stored(rows)
    new = []
    for row in rows:
        existing = stored.get((row.person_id, row.period), [])
        if any(row.same_as(c) for c in existing):
            outcome.already += 1
        elif row.status != ContributionStatus.REFUNDED and any(
            c["status"] != ContributionStatus.REFUNDED for c in existing
        ):
            outcome.errors.append(
                (
                    row.line,
                    "period",
                    f"{row.period:%Y-%m}",
                    _(
                        "Duplicate period: a different record for this person and month is "
                        "already stored."
                    ),
                )
            )
        else:
            new.append(row)
    return new


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


def _insert_postgresql(rows: list[Row], batch: ImportBatch) -> list[tuple[int, Row]]:
    """COPY into a staging table, then one INSERT ... SELECT ... ON CONFLICT DO
    NOTHING RETURNING (a month taken meanwhile by someone else is skipped, never
    doubled). Returned ids are matched back by (person, month), unique among
    non-refunded rows; refunded rows credit nothing, so only their count matters."""
    cols = ", ".join(_INSERT_COLUMNS)
    by_key = {(r.person_id, r.period): r for r in rows if r.status != ContributionStatus.REFUNDED}
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _contrib_stage ("
            "line integer, person_id bigint, period date, declared_base_fen bigint, "
            "base_fen bigint, employer_fen bigint, individual_fen bigint, credited_fen bigint, "
            "payer text, paid_on date, status text) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE _contrib_stage")
        copy_rows(
            cursor,
            f"COPY _contrib_stage (line, {cols}) FROM STDIN",
            ((r.line, *(getattr(r, c) for c in _INSERT_COLUMNS)) for r in rows),
        )
        cursor.execute(
            f"""
            INSERT INTO payments_contribution ({cols}, batch_id, created_at)
            SELECT {cols}, %s, now() FROM _contrib_stage ORDER BY line
            ON CONFLICT (person_id, period) WHERE NOT (status = 'refunded') DO NOTHING
            RETURNING id, person_id, period, status
            """,  # noqa: S608 (column names are constants)
            [batch.pk],
        )
        inserted = cursor.fetchall()
    refunded = iter(r for r in rows if r.status == ContributionStatus.REFUNDED)
    return [
        (cid, by_key[(pid, period)] if status != ContributionStatus.REFUNDED else next(refunded))
        for cid, pid, period, status in inserted
    ]


def _insert_portable(rows: list[Row], batch: ImportBatch) -> list[tuple[int, Row]]:
    objs = Contribution.objects.bulk_create(
        [Contribution(batch=batch, **{c: getattr(r, c) for c in _INSERT_COLUMNS}) for r in rows],
        batch_size=2000,
    )
    return [(obj.pk, r) for obj, r in zip(objs, rows, strict=True)]


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


def _credit(inserted: list[tuple[int, Row]]) -> int:
    """Credit every paid new record: one ledger transaction per record, all
    inserted together (``ledger_post_bulk``)."""
    paid = [
        (cid, r)
        for cid, r in inserted
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


# The postings of ``credit_postings`` for every paid record of a batch, in SQL
# (same rule: receivable -total, pooled total - credited, current pocket
# credited; zero postings left out).
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
 WHERE c.batch_id = %(batch)s AND c.status = 'paid'
   AND (c.employer_fen + c.individual_fen <> 0 OR c.credited_fen <> 0)
   AND p.amount <> 0
"""


def _credit_postgresql(batch: ImportBatch) -> int:
    """``_credit`` for PostgreSQL, set-based: the batch's new records are read
    back in SQL, the missing current-year pockets created with one INSERT, and
    the ledger rows built by ``ledger_post_bulk_sql`` (no posting goes through
    Python). One ledger transaction per record, as before."""
    receivable = system_account(AccountKind.CONTRIBUTIONS_RECEIVABLE).pk
    pooled = system_account(AccountKind.POOLED_FUND).pk
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO accounts_ledgeraccount (code, kind, person_id, balance_fen)
            SELECT DISTINCT 'member:' || person_id || ':current', 'member_current', person_id, 0
              FROM payments_contribution
             WHERE batch_id = %s AND status = 'paid' AND credited_fen <> 0
             ORDER BY 1
            ON CONFLICT DO NOTHING
            """,
            [batch.pk],
        )
    return ledger_post_bulk_sql(
        kind=CREDIT_KIND,
        postings_sql=_CREDIT_POSTINGS_SQL,
        params={"batch": batch.pk, "receivable": receivable, "pooled": pooled},
    )


def _report(errors: list[tuple[int, str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv_writer(out)  # file cells are neutralised (docs/adr/0007)
    writer.writerow(["line", "column", "value", "problem"])
    writer.writerows(sorted(errors, key=lambda e: (e[0], e[1])))
    return out.getvalue()


def contributions_import(
    *, data: bytes, file_name: str, uploaded_by=None, request=None
) -> ImportBatch:
    """Import a contributions CSV (columns: see ``COLUMNS`` and README.md).

    1. Decode strictly as UTF-8 (BOM allowed); anything else refuses the whole
       file, naming the first bad line. A missing column refuses it too.
    2. Check every row (identity number, month, amounts, payer, status, date
       paid), then look the persons up in bulk; a bad row is reported (line,
       column, why) and skipped, the good rows go on.
    3. Under one import lock: a row identical to a stored record is "already
       imported" (so the same file twice changes nothing); a different record
       for the same person and month (in the file or stored) is a bad row.
    4. Insert the new rows in bulk (COPY + INSERT ... SELECT on PostgreSQL) and
       credit the paid ones, one ledger transaction each, in one statement.
    The batch records the counts and the CSV report of bad rows.
    """
    outcome = ImportOutcome()
    text, refused = _decode(data)
    parsed = [] if text is None else _parse(text, outcome)
    outcome.refused = outcome.refused or refused
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK])
        batch = ImportBatch.objects.create(
            uploaded_by=uploaded_by if getattr(uploaded_by, "is_authenticated", False) else None,
            file_name=file_name[:255],
            sha256=hashlib.sha256(data).hexdigest(),
        )
        inserted: list[tuple[int, Row]] = []
        if not outcome.refused:
            rows = _split_new(_resolve(parsed, outcome), outcome)
            if rows:
                insert = (
                    _insert_postgresql if connection.vendor == "postgresql" else _insert_portable
                )
                inserted = insert(rows, batch)
                if len(inserted) != len(rows):  # only if the lock was bypassed
                    taken = {r.line for _cid, r in inserted}
                    outcome.errors.extend(
                        (r.line, "period", f"{r.period:%Y-%m}", _("Duplicate period."))
                        for r in rows
                        if r.line not in taken
                    )
                if connection.vendor == "postgresql":
                    _credit_postgresql(batch)
                else:
                    _credit(inserted)
        batch.rows_total = outcome.rows_total
        batch.rows_imported = len(inserted)
        batch.rows_already = outcome.already
        batch.rows_bad = len({e[0] for e in outcome.errors})
        batch.refused = outcome.refused
        batch.report_csv = _report(outcome.errors) if outcome.errors else ""
        batch.save()
        audit_record(
            actor=uploaded_by,
            action="contributions.import",
            target=batch,
            detail={
                "file": batch.file_name,
                "sha256": batch.sha256,
                "imported": batch.rows_imported,
                "already": batch.rows_already,
                "bad": batch.rows_bad,
                "refused": bool(batch.refused),
            },
            request=request,
        )
    return batch
