"""The dataset's second phase: a year of medical expenses, split by the real rules.

Run by ``bench.dataset.build`` after the persons phase (resumable per chunk,
recorded in the marker as ``expenses``). For each person, 0-4 expenses in 2026
at one of ten bench institutions, each split by ``claims.split.split_expense``
with the person's running deductible, fund total and pocket balances, so the
rows are what ``claims.services.expense_submit`` would have stored: the expense,
its lines and its parts (with reasons), the person's yearly accumulators, and,
when the personal account pays, the ledger transaction
(``expense:<institution>:<key>``) from the pockets to the institution payable.
The expenses are left unsettled (queued in ``claims_settlementwork``, no batch).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time

from bench import dataset

EXPENSES_VERSION = "1"
YEAR = 2026
INSTITUTIONS = 10
CARE = (("outpatient", 60), ("pharmacy", 30), ("emergency", 5), ("inpatient", 5))
AMOUNTS = {  # yuan range of one line
    "outpatient": (30, 800),
    "pharmacy": (20, 400),
    "emergency": (200, 3000),
    "inpatient": (2000, 30000),
}
COUNTERS = (
    ("expense", "claims_expense"),
    ("line", "claims_expenseline"),
    ("part", "claims_expensepart"),
    ("acc", "claims_fundaccumulator"),
)


def _copy_json(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("\\", "\\\\")


class ExpenseBuilder:
    def __init__(self, cur, persons: int, log=print):
        from accounts.services import body_hash, institution_payable
        from claims import policy_data
        from claims.models import BenefitPolicy, Institution
        from claims.services import policy_terms

        self.persons, self.log, self.body_hash = persons, log, body_hash
        policy_data.load(years=[YEAR])
        self.institutions = []
        for n in range(1, INSTITUTIONS + 1):
            city = "110100" if n <= INSTITUTIONS // 2 else "440300"
            kind = "pharmacy" if n % 3 == 0 else "hospital"
            inst = Institution.objects.filter(name=f"Bench institution {n}").first()
            if inst is None:
                inst = Institution.objects.create(
                    name=f"Bench institution {n}", kind=kind, region=city
                )
            self.institutions.append((inst.pk, city, institution_payable(inst.pk).pk))
        self.policies = {
            (p.region, p.scheme, p.care_type): (p.pk, p.pool, policy_terms(p))
            for p in BenefitPolicy.objects.filter(year=YEAR)
        }
        self.counters = {}
        for name, table in COUNTERS:
            cur.execute(f"SELECT COALESCE(max(id), 0) FROM {table}")
            self.counters[name] = cur.fetchone()[0]

    def _next(self, name: str) -> int:
        self.counters[name] += 1
        return self.counters[name]

    def chunk(self, cur, start: int, stop: int, counters: dataset.Counters) -> dataset.Chunk:
        from claims.split import split_expense

        cur.execute(
            "SELECT id, insurance_type, insured_region FROM members_insuredperson "
            "WHERE id >= %s AND id < %s ORDER BY id",
            [start, stop],
        )
        people = cur.fetchall()
        cur.execute(
            "SELECT person_id, kind, balance_fen FROM accounts_ledgeraccount "
            "WHERE person_id >= %s AND person_id < %s",
            [start, stop],
        )
        pockets: dict[int, dict[str, int]] = {}
        for pid, kind, balance in cur.fetchall():
            pockets.setdefault(pid, {})[kind] = balance
        # Persons who already have expenses (made through the API by an earlier
        # bench_http run) keep theirs; their accumulators exist already.
        cur.execute(
            "SELECT DISTINCT person_id FROM claims_fundaccumulator "
            "WHERE person_id >= %s AND person_id < %s",
            [start, stop],
        )
        skip = {r[0] for r in cur.fetchall()}
        out = dataset.Chunk()
        rng = random.Random(f"expenses-{start}")
        for pid, itype, region in people:
            if pid in skip:
                continue
            scheme = itype
            count = (
                rng.choice((0, 1, 1, 2, 2, 3, 4))
                if itype != "resident"
                else rng.choice((0, 0, 1, 2))
            )
            if not count:
                continue
            days = sorted(rng.randrange(0, 318) for _ in range(count))
            own = pockets.get(pid, {})
            current = own.get("member_current", 0)
            prior = own.get("member_prior", 0)
            acc: dict[str, list[int]] = {}
            for n, day in enumerate(days):
                care = rng.choices([c for c, _w in CARE], [w for _c, w in CARE])[0]
                policy_id, pool, terms = self.policies[(region[:4] + "00", scheme, care)]
                used = acc.setdefault(pool, [0, 0])
                low, high = AMOUNTS[care]
                lines = [
                    (rng.choices(("A", "B", "self"), (6, 3, 1))[0], rng.randint(low, high) * 100)
                    for _ in range(rng.randint(1, 3))
                ]
                split = split_expense(
                    lines=lines,
                    policy=terms,
                    deductible_used_fen=used[0],
                    fund_paid_fen=used[1],
                    current_fen=current,
                    prior_fen=prior,
                )
                used[0] += split.deductible_fen
                used[1] += split.fund_fen
                from_current = split.paid_by("current")
                from_prior = split.paid_by("prior")
                current -= from_current
                prior -= from_prior
                inst_id, _city, payable = self.institutions[(pid + n) % INSTITUTIONS]
                key = f"bench-{pid}-{n}"
                service = dt.date(YEAR, 1, 1) + dt.timedelta(days=day)
                created = f"{service} 10:00:00+08"
                txn_id = None
                if split.account_fen:
                    postings = {payable: split.account_fen}
                    if from_current:
                        postings[dataset.current_id(pid)] = -from_current
                    if from_prior:
                        postings[dataset.prior_id(pid)] = -from_prior
                    counters.txn += 1
                    txn_id = counters.txn
                    out.add(
                        "accounts_journaltransaction",
                        {
                            "id": txn_id,
                            "idempotency_key": f"expense:{inst_id}:{key}",
                            "kind": "claims.expense",
                            "body_hash": self.body_hash("claims.expense", postings),
                            "memo": f"expense at {inst_id} for person {pid}",
                            "reverses_id": None,
                            "created_at": created,
                            "value_date": service.isoformat(),
                        },
                    )
                    for account, amount in postings.items():
                        counters.posting += 1
                        out.add(
                            "accounts_posting",
                            {
                                "id": counters.posting,
                                "transaction_id": txn_id,
                                "account_id": account,
                                "amount_fen": amount,
                            },
                        )
                expense_id = self._next("expense")
                out.add(
                    "claims_expense",
                    {
                        "id": expense_id,
                        "institution_id": inst_id,
                        "idempotency_key": key,
                        "request_sha256": "0" * 64,
                        "patient_id": pid,
                        "service_date": service.isoformat(),
                        "care_type": care,
                        "policy_id": policy_id,
                        "total_fen": split.total_fen,
                        "fund_fen": split.fund_fen,
                        "account_fen": split.account_fen,
                        "cash_fen": split.cash_fen,
                        "self_borne_fen": split.self_borne_fen,
                        "self_funded_fen": split.self_funded_fen,
                        "deductible_fen": split.deductible_fen,
                        "pool": "",  # the policy's own pool (no chronic disease)
                        "basis": "{}",  # home care, no filing or disease (ADR 0019)
                        "balance_current_after_fen": current if own else None,
                        "balance_prior_after_fen": prior if own else None,
                        "ledger_txn_id": txn_id,
                        "status": "accepted",
                        "reversal_txn_id": None,
                        "reversed_at": None,
                        "reversal_reason": "",
                        "created_at": created,
                    },
                )
                # queued for settlement, as expense_submit does (ADR 0005)
                out.add(
                    "claims_settlementwork",
                    {
                        "expense_id": expense_id,
                        "kind": "expense",
                        "institution_id": inst_id,
                        "due_at": created,
                        "fund_fen": split.fund_fen,
                    },
                )
                for position, (cls, amount) in enumerate(lines, 1):
                    out.add(
                        "claims_expenseline",
                        {
                            "id": self._next("line"),
                            "expense_id": expense_id,
                            "position": position,
                            "catalog_class": cls,
                            "description": "",
                            "amount_fen": amount,
                        },
                    )
                for position, part in enumerate(split.parts, 1):
                    out.add(
                        "claims_expensepart",
                        {
                            "id": self._next("part"),
                            "expense_id": expense_id,
                            "position": position,
                            "payer": part.payer,
                            "component": part.component,
                            "amount_fen": part.amount_fen,
                            "grantor_id": part.grantor_id,
                            "reason_code": part.reason_code,
                            "reason_params": _copy_json(part.reason_params),
                        },
                    )
            for pool, (deductible, fund) in acc.items():
                out.add(
                    "claims_fundaccumulator",
                    {
                        "id": self._next("acc"),
                        "person_id": pid,
                        "year": YEAR,
                        "pool": pool,
                        "deductible_used_fen": deductible,
                        "fund_paid_fen": fund,
                    },
                )
        return out


ORDER = (
    "accounts_journaltransaction",
    "accounts_posting",
    "claims_expense",
    "claims_settlementwork",
    "claims_expenseline",
    "claims_expensepart",
    "claims_fundaccumulator",
)


def run(cur, persons: int, *, log=print) -> None:
    """Add the expenses of persons from the marker's ``expenses_next_pid`` on."""
    from django.db import transaction

    found = dataset.marker(cur)
    start_pid = int(found.get("expenses_next_pid", "1"))
    builder = ExpenseBuilder(cur, persons, log=log)
    counters = dataset.Counters()
    counters.load(cur)
    checked = False
    for start in range(start_pid, persons + 1, dataset.CHUNK):
        stop = min(start + dataset.CHUNK, persons + 1)
        began = time.monotonic()
        with transaction.atomic():
            chunk = builder.chunk(cur, start, stop, counters)
            if not checked:
                for table, cols in chunk.columns.items():
                    dataset.check_columns(cur, table, cols)
                checked = True
            for table in ORDER:
                if table in chunk.rows:
                    dataset.copy_text(cur, table, chunk.columns[table], chunk.rows[table])
            dataset.set_marker(cur, expenses_next_pid=stop)
        log(f"  expenses of persons {start:,}-{stop - 1:,}: {time.monotonic() - began:.1f} s")
    for _name, table in COUNTERS:
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST((SELECT COALESCE(max(id), 0) FROM {table}), 1))"
        )
