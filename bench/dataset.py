"""Build (once) the benchmark dataset with COPY, straight into the tables.

    python bench/dataset.py --persons 1000000            # BENCH_DATABASE_URL / DATABASE_URL
    python bench/dataset.py --persons 10000 --small      # the _small database

What it holds, per person ``pid`` (1..N), deterministic for a given N:
- a ``members.User`` (username ``m<pid>``, one shared password hash) and an
  ``InsuredPerson`` with a valid, unique identity number (encrypted with
  ``members.crypto.encrypt_id_number`` when that column exists), in one of ten
  Beijing/Shenzhen districts; insurance type follows age (minors are residents,
  most over-60s retired, 78% of working-age people employees);
- employees: 60 monthly contributions (Nov 2021 - Oct 2026, or from the month
  they turned 18), computed from the region's ``PolicyYear`` with
  ``portal.money.apply_rate``; ~8% pay as flexible-employment individuals, ~3%
  are in arrears for the last month;
- employees and retirees: both personal-account pockets, and the ledger that
  explains their balances. The ledger is AGGREGATED: one credit transaction per
  person per year (the sum of that year's monthly credits, or of a retiree's
  fixed monthly credits) and one year-end rollover per person per year (keyed
  ``rollover:<year>:<person>`` like ``accounts.services.rollover_year``), not one
  transaction per contribution. See bench/README.md for why that does not change
  what is measured. Postings are COPYed one statement per chunk of complete
  transactions, so the ledger trigger checks every transaction balances and
  moves the cached balances;
- approved family links: ~25% of adjacent adult pairs are spouses, ~5% have a
  parent link;
- a year of expenses split by the real rules (bench/expenses.py, a second
  phase that is added to an existing dataset);
- 32 "long record" members (the first employees) whose payment record also has
  50,000 refunded-and-recollected rows, so that page 1,000 of the payment
  record (50 rows a page) exists.

The database keeps a marker table ``bench_dataset``; the build resumes after an
interruption and is skipped when the marker says the same version and size are
complete (new migrations are applied to the kept data by ``migrate``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DATASET_VERSION = "3"
FULL_PERSONS = 1_000_000
SMALL_PERSONS = 10_000
CHUNK = 10_000
PASSWORD = "bench-pass-2026"  # noqa: S105 - bench data only
LONG_RECORD_MEMBERS = 32
LONG_RECORD_ROWS = 50 * 1000 + 50  # page 1,000 of 50 rows exists

REGIONS = (
    "110101",
    "110102",
    "110105",
    "110106",
    "110108",
    "440303",
    "440304",
    "440305",
    "440306",
    "440307",
)
FIRST_PERIOD = dt.date(2021, 11, 1)
MONTHS = 60
PERIODS = [
    dt.date(
        FIRST_PERIOD.year + (FIRST_PERIOD.month - 1 + i) // 12,
        (FIRST_PERIOD.month - 1 + i) % 12 + 1,
        1,
    )
    for i in range(MONTHS)
]
YEARS = sorted({p.year for p in PERIODS})
LAST_YEAR = YEARS[-1]
PERIOD_TEXT = [p.isoformat() for p in PERIODS]
PAID_ON = [
    ((p + dt.timedelta(days=14)).isoformat(), f"{p + dt.timedelta(days=14)} 09:00:00+08")
    for p in PERIODS
]
CONTRIBUTION_COLUMNS = [
    "id",
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
    "batch_id",
    "created_at",
]
BIRTH_START = dt.date(1940, 1, 1)
BIRTH_DAYS = 29_200  # 80 years of birth dates
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
MEMBER_CURRENT_BASE = 100  # pocket ids: 100 + 2*pid (current), 101 + 2*pid (prior)
NULL = "\\N"


def current_id(pid: int) -> int:
    return MEMBER_CURRENT_BASE + 2 * pid


def prior_id(pid: int) -> int:
    return MEMBER_CURRENT_BASE + 2 * pid + 1


# --- people -----------------------------------------------------------------


def id_number_for(pid: int) -> str:
    """A valid identity number, unique per pid (region, birth date, sequence)."""
    from members.idnumber import check_character

    region = REGIONS[pid % len(REGIONS)]
    q = pid // len(REGIONS)
    # A bijection on q mod BIRTH_DAYS (7919 is prime), so ages spread over any range of pids.
    birth = BIRTH_START + dt.timedelta(days=(q * 7919) % BIRTH_DAYS)
    k = q // BIRTH_DAYS
    female = (pid * 7 + q) % 2
    seq = 2 * k + 1 + female  # odd = male, even = female
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)


def insurance_type_for(pid: int, birth: dt.date, rng: random.Random) -> str:
    age = 2026 - birth.year
    draw = rng.random()
    if age < 18:
        return "resident"
    if age >= 60:
        return "retired" if draw < 0.85 else "resident"
    return "employee" if draw < 0.78 else "resident"


@dataclass
class Counters:
    txn: int = 0
    posting: int = 0
    contribution: int = 0
    link: int = 0

    def load(self, cur) -> None:
        for attr, table in (
            ("txn", "accounts_journaltransaction"),
            ("posting", "accounts_posting"),
            ("contribution", "payments_contribution"),
            ("link", "family_familylink"),
        ):
            if table_exists(cur, table):
                cur.execute(f"SELECT COALESCE(max(id), 0) FROM {table}")
                setattr(self, attr, cur.fetchone()[0])


@dataclass
class Chunk:
    """The rows of one chunk of persons, as COPY text per table."""

    rows: dict[str, list[str]] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)

    def add(self, table: str, values: dict) -> None:
        cols = self.columns.setdefault(table, list(values))
        self.rows.setdefault(table, []).append("\t".join(_text(values[c]) for c in cols) + "\n")


def _text(value) -> str:
    if value is None:
        return NULL
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


# --- schema helpers -----------------------------------------------------------


def table_exists(cur, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s)", [table])
    return cur.fetchone()[0] is not None


def table_columns(cur, table: str) -> dict[str, tuple[bool, bool]]:
    """{column: (nullable, has_default)}"""
    cur.execute(
        """SELECT column_name, is_nullable = 'YES',
                  column_default IS NOT NULL OR is_identity = 'YES'
             FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = %s""",
        [table],
    )
    return {name: (nullable, default) for name, nullable, default in cur.fetchall()}


def check_columns(cur, table: str, supplied: list[str]) -> None:
    """Refuse clearly when the model gained a required column the builder does
    not fill, or lost one it fills (update bench/dataset.py)."""
    cols = table_columns(cur, table)
    unknown = [c for c in supplied if c not in cols]
    missing = [
        c
        for c, (nullable, default) in cols.items()
        if not nullable and not default and c not in supplied
    ]
    if unknown or missing:
        raise RuntimeError(
            f"bench/dataset.py is out of date for {table}: "
            f"columns it fills but the table lacks: {unknown}; "
            f"required columns it does not fill: {missing}"
        )


def copy_text(cur, table: str, columns: list[str], lines: list[str]) -> None:
    if not lines:
        return
    raw = getattr(cur, "cursor", cur)
    with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buf = io.StringIO()
        size = 0
        for line in lines:
            buf.write(line)
            size += len(line)
            if size > 1 << 20:
                copy.write(buf.getvalue())
                buf = io.StringIO()
                size = 0
        copy.write(buf.getvalue())


def schema_fingerprint(cur) -> str:
    cur.execute("SELECT app || '.' || name FROM django_migrations ORDER BY app, name")
    names = [r[0] for r in cur.fetchall()]
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def marker(cur) -> dict[str, str]:
    cur.execute(
        "CREATE TABLE IF NOT EXISTS bench_dataset (key text PRIMARY KEY, value text NOT NULL)"
    )
    cur.execute("SELECT key, value FROM bench_dataset")
    return dict(cur.fetchall())


def set_marker(cur, **values) -> None:
    for key, value in values.items():
        cur.execute(
            "INSERT INTO bench_dataset (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, str(value)],
        )


# Secondary indexes of the big tables are dropped during the load and rebuilt
# after it (one sort instead of millions of incremental inserts). Their
# definitions are kept in the database so an interrupted build restores them.
BULK_TABLES = ("payments_contribution", "accounts_posting", "accounts_journaltransaction")


def drop_secondary_indexes(cur) -> None:
    cur.execute("CREATE TABLE IF NOT EXISTS bench_dropped_index (name text PRIMARY KEY, def text)")
    for table in BULK_TABLES:
        if not table_exists(cur, table):
            continue
        cur.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.schemaname = current_schema() AND i.tablename = %s
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            [table],
        )
        for name, definition in cur.fetchall():
            cur.execute(
                "INSERT INTO bench_dropped_index VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [name, definition],
            )
            cur.execute(f'DROP INDEX IF EXISTS "{name}"')


def restore_indexes(cur, log) -> None:
    if not table_exists(cur, "bench_dropped_index"):
        return
    cur.execute("SELECT name, def FROM bench_dropped_index ORDER BY name")
    for name, definition in cur.fetchall():
        started = time.monotonic()
        cur.execute(f'DROP INDEX IF EXISTS "{name}"')
        cur.execute(definition)
        cur.execute("DELETE FROM bench_dropped_index WHERE name = %s", [name])
        log(f"  index {name} rebuilt in {time.monotonic() - started:.0f} s")


# --- the generator ------------------------------------------------------------


class Builder:
    def __init__(
        self,
        persons: int,
        *,
        long_records: int = LONG_RECORD_MEMBERS,
        long_record_rows: int = LONG_RECORD_ROWS,
        log=print,
    ):
        from django.contrib.auth.hashers import make_password

        from accounts.services import body_hash
        from portal.money import apply_rate

        self.persons = persons
        self.long_records = long_records
        self.long_record_rows = long_record_rows
        self.log = log
        self.password_hash = make_password(PASSWORD)
        self.body_hash = body_hash
        self.apply_rate = apply_rate
        self.now = "2026-11-01 00:00:00+08"
        self.long_record_pids: list[int] = []

    # policy and system rows, done once through the ORM
    def prepare(self) -> None:
        from accounts.models import AccountKind
        from accounts.services import system_account
        from payments.models import PolicyYear
        from payments.policy_data import CAP, DEMO_POLICIES, FLOOR

        for city, (employer, individual, credit, retiree, wages) in DEMO_POLICIES.items():
            first = min(wages)
            for year in YEARS:
                PolicyYear.objects.get_or_create(
                    region=city,
                    year=year,
                    defaults={
                        "average_wage_fen": wages.get(year, wages[first] * 96 // 100),
                        "base_floor_ratio": FLOOR,
                        "base_cap_ratio": CAP,
                        "employer_rate": employer,
                        "individual_rate": individual,
                        "credit_rate": credit,
                        "retiree_monthly_credit_fen": retiree,
                    },
                )
        # Pockets get fixed ids (current_id/prior_id); accounts made through the
        # ORM (these two, institution payables later) must be numbered past them,
        # even in a database whose sequence has moved on (e.g. the test database).
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('accounts_ledgeraccount', 'id'), "
                "GREATEST((SELECT COALESCE(max(id), 0) FROM accounts_ledgeraccount), %s))",
                [prior_id(self.persons)],
            )
        # The rolled-over years are closed, as rollover_year leaves them.
        from accounts.models import YearEndClosing

        for year in YEARS[:-1]:
            YearEndClosing.objects.get_or_create(
                year=year,
                defaults={
                    "started_at": dt.datetime.fromisoformat(f"{year + 1}-01-01T00:05:00+08:00"),
                    "completed_at": dt.datetime.fromisoformat(f"{year + 1}-01-01T01:00:00+08:00"),
                },
            )
        self.receivable = system_account(AccountKind.CONTRIBUTIONS_RECEIVABLE).pk
        self.pooled = system_account(AccountKind.POOLED_FUND).pk
        self.policies = {
            (p.region, p.year): p
            for p in PolicyYear.objects.filter(region__in=["110100", "440300"])
        }

    def policy(self, region: str, year: int):
        return self.policies[(region[:4] + "00", year)]

    def chunk(self, start: int, stop: int, counters: Counters, cur) -> Chunk:
        from members import crypto

        encrypted = "id_number_encrypted" in self.person_columns
        out = Chunk()
        rng = random.Random(start)
        births: dict[int, dt.date] = {}
        types: dict[int, str] = {}
        for pid in range(start, stop):
            number = id_number_for(pid)
            birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
            births[pid] = birth
            itype = insurance_type_for(pid, birth, rng)
            types[pid] = itype
            out.add(
                "members_user",
                {
                    "id": pid,
                    "password": self.password_hash,
                    "last_login": None,
                    "is_superuser": False,
                    "username": f"m{pid}",
                    "first_name": "",
                    "last_name": "",
                    "email": "",
                    "is_staff": False,
                    "is_active": True,
                    "date_joined": self.now,
                    "phone": f"139{pid:08d}",
                    "session_generation": 0,
                },
            )
            person = {"id": pid, "user_id": pid}
            if encrypted:
                person["id_number_encrypted"], person["id_number_hash"] = crypto.encrypt_id_number(
                    number
                )
            else:
                person["id_number"] = number
            person.update(
                name=SURNAMES[rng.randrange(len(SURNAMES))]
                + "".join(GIVEN[rng.randrange(len(GIVEN))] for _ in range(rng.randint(1, 2))),
                birth_date=birth.isoformat(),
                sex="F" if int(number[16]) % 2 == 0 else "M",
                insurance_type=itype,
                insured_region=number[:6],
                created_at=self.now,
            )
            out.add("members_insuredperson", person)
            if itype in ("employee", "retired"):
                for aid, kind, suffix in (
                    (current_id(pid), "member_current", "current"),
                    (prior_id(pid), "member_prior", "prior"),
                ):
                    out.add(
                        "accounts_ledgeraccount",
                        {
                            "id": aid,
                            "code": f"member:{pid}:{suffix}",
                            "kind": kind,
                            "person_id": pid,
                            "institution_id": None,
                            "balance_fen": 0,
                        },
                    )
            if itype == "employee":
                self._employee(out, pid, number[:6], birth, rng, counters)
            elif itype == "retired":
                self._retiree(out, pid, number[:6], counters)
        self._links(out, start, stop, births, types, rng, counters)
        return out

    def _txn(
        self,
        out: Chunk,
        counters: Counters,
        key: str,
        kind: str,
        postings: dict[int, int],
        memo: str,
        created: str,
    ) -> None:
        counters.txn += 1
        out.add(
            "accounts_journaltransaction",
            {
                "id": counters.txn,
                "idempotency_key": key,
                "kind": kind,
                "body_hash": self.body_hash(kind, postings),
                "memo": memo,
                "reverses_id": None,
                "created_at": created,
                # Credits and rollovers are created on 31 December (+08).
                "value_date": created[:10],
            },
        )
        for account, amount in postings.items():
            counters.posting += 1
            out.add(
                "accounts_posting",
                {
                    "id": counters.posting,
                    "transaction_id": counters.txn,
                    "account_id": account,
                    "amount_fen": amount,
                },
            )

    def _rollover(self, out, counters, pid: int, year: int, balance: int) -> None:
        """The year's rollover as ``accounts.services.rollover_year`` writes it:
        valued 31 December, with its record (zero included). The year's whole
        credit is its balance as of 31 December and at the run."""
        if year >= LAST_YEAR:
            return
        txn_id = None
        if balance > 0:
            self._txn(
                out,
                counters,
                f"rollover:{year}:{pid}",
                "rollover",
                {current_id(pid): -balance, prior_id(pid): balance},
                f"year-end rollover {year}",
                f"{year}-12-31 23:59:00+08",
            )
            txn_id = counters.txn
        out.add(
            "accounts_rollover",
            {
                "person_id": pid,
                "year": year,
                "amount_fen": balance,
                "balance_as_of_fen": balance,
                "balance_at_run_fen": balance,
                "transaction_id": txn_id,
                "created_at": f"{year + 1}-01-01 00:05:00+08",
            },
        )

    def _employee(self, out, pid, region, birth, rng, counters) -> None:
        factor = min(max(rng.lognormvariate(0.0, 0.55), 0.4), 4.0)
        flexible = rng.random() < 0.08
        arrears_last = rng.random() < 0.03
        adult_from = dt.date(birth.year + 18, birth.month, 1)
        long_record = len(self.long_record_pids) < self.long_records and pid < self.persons
        if long_record:
            self.long_record_pids.append(pid)
        per_year: dict[int, int] = {}
        payer = "individual" if flexible else "employer"
        lines = out.rows.setdefault("payments_contribution", [])
        out.columns.setdefault("payments_contribution", CONTRIBUTION_COLUMNS)
        amounts: dict[int, tuple] = {}
        for i, period in enumerate(PERIODS):
            if period < adult_from:
                continue
            year = period.year
            if year not in amounts:
                policy = self.policy(region, year)
                declared = int(policy.average_wage_fen * factor)
                floor = self.apply_rate(policy.average_wage_fen, policy.base_floor_ratio)
                cap = self.apply_rate(policy.average_wage_fen, policy.base_cap_ratio)
                base = min(max(declared, floor), cap)
                individual = self.apply_rate(base, policy.individual_rate)
                employer = self.apply_rate(base, policy.employer_rate)
                amounts[year] = (
                    f"{declared}\t{base}\t{employer}\t{individual}",
                    self.apply_rate(individual, policy.credit_rate),
                )
            fixed, credit = amounts[year]
            paid = not (arrears_last and i == MONTHS - 1)
            credited = credit if paid else 0
            per_year[year] = per_year.get(year, 0) + credited
            counters.contribution += 1
            paid_on, created = PAID_ON[i]
            lines.append(
                f"{counters.contribution}\t{pid}\t{PERIOD_TEXT[i]}\t{fixed}\t{credited}\t{payer}\t"
                f"{paid_on if paid else NULL}\t{'paid' if paid else 'arrears'}\t\\N\t{created}\n"
            )
        if long_record:
            self._long_record(out, pid, region, factor, payer, counters)
        for year in YEARS:
            credit = per_year.get(year, 0)
            if credit:
                self._txn(
                    out,
                    counters,
                    f"bench:credit:{year}:{pid}",
                    "contribution.credit",
                    {self.receivable: -credit, current_id(pid): credit},
                    f"contribution credits {year} (aggregated)",
                    f"{year}-12-31 23:00:00+08",
                )
            self._rollover(out, counters, pid, year, credit)

    def _long_record(self, out, pid, region, factor, payer, counters) -> None:
        """Refunded-and-recollected rows (credit nothing): a record of 1,000+ pages."""
        lines = out.rows["payments_contribution"]
        for n in range(self.long_record_rows - MONTHS):
            i = MONTHS - 1 - (n % MONTHS)
            base = int(self.policy(region, PERIODS[i].year).average_wage_fen * factor)
            counters.contribution += 1
            paid_on, created = PAID_ON[i]
            lines.append(
                f"{counters.contribution}\t{pid}\t{PERIOD_TEXT[i]}\t{base}\t{base}\t0\t0\t0\t"
                f"{payer}\t{paid_on}\trefunded\t\\N\t{created}\n"
            )

    def _retiree(self, out, pid, region, counters) -> None:
        for year in YEARS:
            months = sum(1 for p in PERIODS if p.year == year)
            credit = self.policy(region, year).retiree_monthly_credit_fen * months
            if credit:
                self._txn(
                    out,
                    counters,
                    f"bench:retiree:{year}:{pid}",
                    "retiree.credit",
                    {self.pooled: -credit, current_id(pid): credit},
                    f"retiree monthly credits {year} (aggregated)",
                    f"{year}-12-31 23:00:00+08",
                )
            self._rollover(out, counters, pid, year, credit)

    def _links(self, out, start, stop, births, types, rng, counters) -> None:
        if not self.has_links:
            return

        def link(member: int, relative: int, relationship: str, pay: bool) -> None:
            counters.link += 1
            out.add(
                "family_familylink",
                {
                    "id": counters.link,
                    "member_id": member,
                    "relative_id": relative,
                    "relationship": relationship,
                    "status": "approved",
                    "scope_balance": True,
                    "scope_records": True,
                    "scope_pay": pay,
                    "pay_yearly_cap_fen": None,
                    "consent_version": "bench",
                    "consent_at": self.now,
                    "document_kind": "commitment_letter",
                    "document_name": f"bench-{member}-{relative}.pdf",
                    "document_type": "application/pdf",
                    "document_size": 48213,
                    "document_sha256": "0" * 64,
                    "created_at": self.now,
                    "reviewed_by_id": None,
                    "reviewed_at": self.now,
                    "reason": "",
                    "ended_by_id": None,
                    "ended_at": None,
                    "scope_errands": False,
                    # Confirmed by the relative, running until ended (ADR 0017).
                    "relative_is_minor": False,
                    "relative_confirmed_at": self.now,
                    "term": "open",
                    "expires_at": None,
                    "renewed_at": None,
                    "reminded_for": None,
                    "expiry_recorded_for": None,
                },
            )

        def adult(pid: int) -> bool:
            return 2026 - births[pid].year >= 18

        for pid in range(start, stop - 2, 2):
            a, b = pid, pid + 1
            same_province = a % len(REGIONS) // 5 == b % len(REGIONS) // 5
            spouses = adult(a) and adult(b) and same_province and types[a] != "resident"
            if spouses and rng.random() < 0.25:
                link(a, b, "spouse", rng.random() < 0.5)
            if rng.random() < 0.05 and births[a] < births[pid + 2] and types[a] != "resident":
                link(a, pid + 2, "child", False)

    # -- run --------------------------------------------------------------------

    def write(self, cur, chunk: Chunk) -> None:
        order = (
            "members_user",
            "members_insuredperson",
            "accounts_ledgeraccount",
            "accounts_journaltransaction",
            "accounts_posting",
            "accounts_rollover",
            "payments_contribution",
            "family_familylink",
        )
        for table in order:
            if table in chunk.rows:
                copy_text(cur, table, chunk.columns[table], chunk.rows[table])

    def check_schema(self, cur) -> None:
        sample = self.chunk(1, 3, Counters(), cur)
        for table, cols in sample.columns.items():
            check_columns(cur, table, cols)

    def run(self, cur, *, resume_from: int, counters: Counters, on_chunk) -> None:
        self.person_columns = table_columns(cur, "members_insuredperson")
        self.has_links = table_exists(cur, "family_familylink")
        saved = self.long_record_pids
        self.check_schema(cur)
        self.long_record_pids = saved
        for start in range(resume_from, self.persons + 1, CHUNK):
            stop = min(start + CHUNK, self.persons + 1)
            began = time.monotonic()
            from django.db import transaction

            with transaction.atomic():
                chunk = self.chunk(start, stop, counters, cur)
                generated = time.monotonic()
                self.write(cur, chunk)
                on_chunk(start, stop, generated - began, time.monotonic() - generated)


def setval_all(cur) -> None:
    for table in (
        "members_user",
        "members_insuredperson",
        "accounts_ledgeraccount",
        "accounts_journaltransaction",
        "accounts_posting",
        "payments_contribution",
        "family_familylink",
    ):
        if table_exists(cur, table):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT COALESCE(max(id), 0) FROM {table}), 1))"
            )


def verify_ledger() -> str:
    from django.core.management import call_command

    out = io.StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=out)
    except Exception as exc:  # the command raises CommandError listing offenders
        return f"FAILED: {exc} {out.getvalue().strip()[:400]}"
    return "clean: " + (out.getvalue().strip().splitlines() or ["ledger consistent"])[-1]


def row_counts(cur) -> str:
    counts = []
    for table in (
        "members_insuredperson",
        "payments_contribution",
        "accounts_journaltransaction",
        "accounts_posting",
        "family_familylink",
        "claims_expense",
    ):
        if table_exists(cur, table):
            cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
            counts.append(f"{table}={cur.fetchone()[0]}")
    return ",".join(counts)


def ensure_expenses(cur, persons: int, *, log=print, verify: bool = True) -> None:
    """The second phase (bench/expenses.py), once per EXPENSES_VERSION."""
    from bench import expenses

    if not table_exists(cur, "claims_expense"):
        return
    if marker(cur).get("expenses") == expenses.EXPENSES_VERSION:
        return
    started = time.monotonic()
    log("adding a year of expenses")
    expenses.run(cur, persons, log=log)
    setval_all(cur)
    cur.execute("ANALYZE")
    ledger = verify_ledger() if verify else "not checked"
    set_marker(
        cur,
        expenses=expenses.EXPENSES_VERSION,
        expenses_seconds=f"{time.monotonic() - started:.0f}",
        verify_ledger=ledger,
        counts=row_counts(cur),
    )
    log(f"expenses added in {time.monotonic() - started:.0f} s; verify_ledger: {ledger}")


def compact_read_versions(*, log=print) -> None:
    """What the nightly job does (docs/adr/0006): the build wrote the
    long-record members' rows one statement at a time, each appending a
    read-version row; a portal that ran the nightly fold since has one per
    person. Cheap when already folded."""
    from dashboard.services import compact_read_versions as fold

    started = time.monotonic()
    folded = fold()
    if folded:
        log(f"read versions of {folded:,} persons folded in {time.monotonic() - started:.0f} s")


def id_key_fingerprint() -> str:
    from django.conf import settings

    return hashlib.sha256(settings.ID_NUMBER_KEYS[0].encode()).hexdigest()[:12]


def long_record_pids(cur) -> list[int]:
    cur.execute("SELECT value FROM bench_dataset WHERE key = 'long_record_pids'")
    row = cur.fetchone()
    return [int(x) for x in row[0].split(",") if x] if row else []


def build(
    url: str,
    persons: int,
    *,
    long_records: int = LONG_RECORD_MEMBERS,
    long_record_rows: int = LONG_RECORD_ROWS,
    log=print,
    verify: bool = True,
) -> dict:
    """Make sure ``url`` holds the dataset of ``persons`` persons; returns the
    marker. Must run in a process whose Django points at ``url``
    (``common.setup_django``)."""
    from django.core.management import call_command
    from django.db import connection

    common.ensure_database(url)
    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cur:
        fingerprint = schema_fingerprint(cur)
        found = marker(cur)
        wanted = {
            "version": DATASET_VERSION,
            "persons": str(persons),
            "schema": fingerprint,
            "long_records": f"{long_records}x{long_record_rows}",
        }
        # A later migration is applied to the data by ``migrate`` above; only
        # another generator version or size means a fresh build.
        compared = ("version", "persons", "long_records")
        # The identity numbers are encrypted under the key in bench/.var: a
        # dataset made under another key cannot be read, so it is rebuilt.
        wanted["id_key"] = id_key_fingerprint()
        stale_key = found.get("id_key", wanted["id_key"]) != wanted["id_key"]
        if found and (stale_key or any(found.get(k) != wanted[k] for k in compared)):
            log(f"dataset in {common.db_name(url)} is {found}, wanted {wanted}: rebuilding")
            connection.close()
            common.drop_database(url)
            return build(
                url,
                persons,
                long_records=long_records,
                long_record_rows=long_record_rows,
                log=log,
                verify=verify,
            )
        if found.get("complete") == "yes":
            set_marker(cur, id_key=wanted["id_key"])
            ensure_expenses(cur, persons, log=log, verify=verify)
            compact_read_versions(log=log)
            log(f"dataset of {persons:,} persons already in {common.db_name(url)}: reused")
            return found
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit TO off")
        set_marker(cur, **wanted)
        found = marker(cur)
        resume_from = int(found.get("next_pid", "1"))
        if resume_from == 1:
            cur.execute("SELECT count(*) FROM members_insuredperson")
            if cur.fetchone()[0]:
                raise RuntimeError(
                    f"{common.db_name(url)} holds persons that are not the dataset's"
                )
        drop_secondary_indexes(cur)
        counters = Counters()
        counters.load(cur)
    builder = Builder(
        persons, long_records=long_records, long_record_rows=long_record_rows, log=log
    )
    builder.prepare()
    with connection.cursor() as cur:
        builder.long_record_pids = long_record_pids(cur)

        def on_chunk(start, stop, gen_s, copy_s):
            set_marker(
                cur, next_pid=stop, long_record_pids=",".join(map(str, builder.long_record_pids))
            )
            log(f"  persons {start:,}-{stop - 1:,}: generated {gen_s:.1f} s, copied {copy_s:.1f} s")

        builder.run(cur, resume_from=resume_from, counters=counters, on_chunk=on_chunk)
        log("rebuilding secondary indexes")
        cur.execute("SET maintenance_work_mem TO '1GB'")
        restore_indexes(cur, log)
        setval_all(cur)
        cur.execute("ANALYZE")
        ledger = "not checked"
        if verify:
            out = io.StringIO()
            try:
                call_command("verify_ledger", stdout=out, stderr=out)
                ledger = (
                    "clean: " + out.getvalue().strip().splitlines()[-1]
                    if out.getvalue().strip()
                    else "clean"
                )
            except SystemExit as exc:  # the command exits non-zero on offenders
                ledger = f"FAILED ({exc.code}): {out.getvalue().strip()[:500]}"
            except Exception as exc:
                ledger = f"FAILED: {exc}"[:500]
        seconds = time.monotonic() - started + float(found.get("seconds", "0") or 0)
        counts = {}
        for table in (
            "members_insuredperson",
            "payments_contribution",
            "accounts_journaltransaction",
            "accounts_posting",
            "family_familylink",
        ):
            if table_exists(cur, table):
                cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
                counts[table] = cur.fetchone()[0]
        set_marker(
            cur,
            complete="yes",
            seconds=f"{seconds:.0f}",
            verify_ledger=ledger,
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            counts=",".join(f"{k}={v}" for k, v in counts.items()),
        )
        log(f"dataset of {persons:,} persons built in {seconds:.0f} s; verify_ledger: {ledger}")
        ensure_expenses(cur, persons, log=log, verify=verify)
        compact_read_versions(log=log)
        return marker(cur)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=FULL_PERSONS)
    parser.add_argument("--small", action="store_true", help="use the _small database")
    parser.add_argument("--url", help="database URL (default BENCH_DATABASE_URL / DATABASE_URL)")
    args = parser.parse_args(argv)
    url = args.url or (common.small_url() if args.small else common.bench_url())
    common.setup_django(url)
    build(url, args.persons, log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
