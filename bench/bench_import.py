"""Benchmark: the contributions import path vs a plain PostgreSQL COPY.

    python bench/bench_import.py                 # 1,000,000 rows (make bench)
    BENCH_IMPORT_ROWS=1000 python bench/bench_import.py    # a quick smoke run

Uses its own database, ``BENCH_IMPORT_DATABASE_URL`` (default
postgres://postgres@127.0.0.1:5432/portal_bench_import), created and migrated
on first use. It loads the persons the file needs with COPY (identity numbers
encrypted with members.crypto.encrypt_id_number), writes a CSV of ROWS monthly
contributions (12 months of 2025 per person, all valid and paid), then times:

1. ``payments.services.contributions_import`` on the file: decode, check every
   row, bulk look-up of persons, COPY to staging, INSERT ... SELECT, and one
   credit ledger transaction per row (COPY + one INSERT of all postings);
2. importing the same file again (every row "already imported");
3. ``verify_ledger``'s two set-based queries over the result;
4. a plain ``COPY ... FROM STDIN (FORMAT csv)`` of the same file into an
   unlogged table: the floor for moving these bytes into PostgreSQL.

Prints a Markdown section (bench/run appends it to bench/results.md).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT_DIR, ensure_database, machine_description, setup_django

URL = os.environ.get(
    "BENCH_IMPORT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench_import"
)
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
MONTHS = 12
REGION = "110105"


def id_number(k: int) -> str:
    from members.idnumber import make_id_number

    return make_id_number(REGION, dt.date(1960, 1, 1) + dt.timedelta(days=k // 900), k % 900 + 1)


def load_persons(cursor, n: int) -> None:
    """Persons 0..n-1 (named ``bench <k>``), loaded by COPY; kept between runs."""
    from accounts.services import copy_rows
    from members.crypto import encrypt_id_number
    from members.idnumber import parse_id_number

    cursor.execute("SELECT count(*) FROM members_insuredperson WHERE name LIKE 'bench %%'")
    have = cursor.fetchone()[0]
    if have >= n:
        return
    now = dt.datetime.now(dt.UTC)

    def rows():
        for k in range(have, n):
            number = id_number(k)
            parsed = parse_id_number(number)
            encrypted, digest = encrypt_id_number(number)
            yield (
                encrypted,
                digest,
                f"bench {k}",
                parsed.birth_date,
                parsed.sex,
                "employee",
                REGION,
                now,
            )

    copy_rows(
        cursor,
        "COPY members_insuredperson (id_number_encrypted, id_number_hash, name, birth_date, "
        "sex, insurance_type, insured_region, created_at) FROM STDIN",
        rows(),
    )


def write_csv(path: Path, persons: int) -> None:
    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        f.write("id_number,period,base,employer_amount,individual_amount,payer,paid_on,status\n")
        written = 0
        for k in range(persons):
            number = id_number(k)
            for month in range(1, MONTHS + 1):
                if written == ROWS:
                    break
                f.write(
                    f"{number},2025-{month:02d},8000,784.00,160.00,employer,"
                    f"2025-{month:02d}-15,paid\n"
                )
                written += 1
    tmp.rename(path)


def reset_contributions(cursor) -> None:
    """Empty the contributions and the ledger of the bench database. The ledger
    tables refuse TRUNCATE outside a test database (portal/db.py), so the bench
    (a superuser) switches triggers off for this one statement."""
    cursor.execute("SET session_replication_role = replica")
    try:
        cursor.execute(
            "TRUNCATE accounts_posting, accounts_journaltransaction, accounts_ledgeraccount, "
            "accounts_rollover, accounts_yearendclosing, "
            "payments_contribution, payments_importbatch CASCADE"
        )
    finally:
        cursor.execute("SET session_replication_role = origin")


def main() -> None:
    ensure_database(URL)
    setup_django(URL)
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.selectors import ledger_offenders
    from payments.services import contributions_import

    call_command("migrate", verbosity=0)
    persons = -(-ROWS // MONTHS)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"contributions-{ROWS}.csv"
    with connection.cursor() as cursor:
        t = time.perf_counter()
        load_persons(cursor, persons)
        persons_s = time.perf_counter() - t
        reset_contributions(cursor)
    write_csv(path, persons)
    data = path.read_bytes()

    t = time.perf_counter()
    batch = contributions_import(data=data, file_name=path.name)
    import_s = time.perf_counter() - t
    assert (batch.rows_imported, batch.rows_bad) == (ROWS, 0), batch.report_csv[:2000]

    t = time.perf_counter()
    again = contributions_import(data=data, file_name=path.name)
    again_s = time.perf_counter() - t
    assert (again.rows_imported, again.rows_already) == (0, ROWS)

    t = time.perf_counter()
    offenders = ledger_offenders()
    verify_s = time.perf_counter() - t
    assert offenders.clean

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS bench_plain_copy (id_number text, period text, "
            "base numeric, employer_amount numeric, individual_amount numeric, payer text, "
            "paid_on date, status text)"
        )
        cursor.execute("TRUNCATE bench_plain_copy")
        t = time.perf_counter()
        with cursor.cursor.copy("COPY bench_plain_copy FROM STDIN (FORMAT csv, HEADER true)") as cp:
            for start in range(0, len(data), 1 << 20):
                cp.write(data[start : start + (1 << 20)])
        copy_s = time.perf_counter() - t
        cursor.execute("SELECT count(*) FROM bench_plain_copy")
        assert cursor.fetchone()[0] == ROWS

        # The floor of storing the records at all: the same rows written into a
        # table shaped like payments_contribution (its columns, constraints and
        # indexes; no ledger, no checks), from the rows the import just wrote.
        cursor.execute("DROP TABLE IF EXISTS bench_contribution_like")
        cursor.execute(
            "CREATE TABLE bench_contribution_like (LIKE payments_contribution INCLUDING ALL)"
        )
        t = time.perf_counter()
        with transaction.atomic():
            cursor.execute(
                "INSERT INTO bench_contribution_like SELECT * FROM payments_contribution"
            )
        like_s = time.perf_counter() - t
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'bench_contribution_like'"
        )
        like_indexes = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_contribution_like")

    m = machine_description(URL)
    print(
        f"Contributions import, {ROWS:,} rows ({persons:,} persons, 12 months each), "
        f"{len(data) / 1e6:.1f} MB CSV"
    )
    print()
    print(
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory']}, PostgreSQL {m['postgresql']}, "
        f"Python {m['python']}, Django {m['django']}"
    )
    print()
    print("| step | seconds | rows/s |")
    print("|---|---:|---:|")
    print(f"| import + credit (contributions_import) | {import_s:.2f} | {ROWS / import_s:,.0f} |")
    print(f"| same file again (all already imported) | {again_s:.2f} | {ROWS / again_s:,.0f} |")
    print(f"| plain COPY of the file (unlogged table) | {copy_s:.2f} | {ROWS / copy_s:,.0f} |")
    print(
        f"| the same records into a table shaped like payments_contribution "
        f"({like_indexes} indexes, no ledger) | {like_s:.2f} | {ROWS / like_s:,.0f} |"
    )
    print(f"| verify_ledger queries afterwards | {verify_s:.2f} | |")
    print()
    print(
        f"Import is {import_s / copy_s:.1f}x the time of a plain COPY "
        f"(it also validates every row, looks persons up, and writes {ROWS:,} ledger "
        f"transactions with {3 * ROWS:,} postings). Persons loaded in {persons_s:.1f} s "
        "(once; reused by later runs)."
    )
    print()
    print(
        f"Writing the contribution rows alone, into a table with the contributions table's "
        f"indexes and constraints, takes {like_s / copy_s:.1f}x the time of the plain COPY: "
        f"a quarter of COPY's rate would leave {copy_s * 4:.2f} s for everything."
    )


if __name__ == "__main__":
    main()
