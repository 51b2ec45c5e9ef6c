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
   unlogged table: the floor for moving these bytes into PostgreSQL;
5. the reference of issue 16's target: a plain binary COPY of every row the
   import wrote (its contributions, their ledger transactions and postings,
   read back untimed) into copies of those tables made ``LIKE ... INCLUDING
   ALL`` (indexes, CHECK constraints, defaults), with the real tables' foreign
   keys and triggers recreated on the copies, pointing at the copies
   (``reference_tables``); the three COPYs run in one transaction, timed to
   its commit (deferred foreign-key checks included), median of 3. The
   target: the import at least 1/4 of that rate (import_s <= 4 x
   reference_s).

Prints a Markdown section (bench/run appends it to bench/results.md).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    OUT_DIR,
    ensure_database,
    machine_description,
    setup_django,
    verdict_markdown,
)

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
    """Persons 0..n-1 (named ``bench <k>``), loaded by COPY; kept between runs
    of one checkout. Another checkout has another ID_NUMBER_HASH_KEY (a fresh clone
    makes its own), under which the kept persons' numbers find nobody: they
    are loaded again (after ``reset_contributions``, which empties every table
    pointing at them)."""
    from accounts.services import copy_rows
    from members.crypto import encrypt_id_number
    from members.idnumber import parse_id_number

    cursor.execute("SELECT id_number_hash FROM members_insuredperson WHERE name = 'bench 0'")
    first = cursor.fetchone()
    if first is not None and first[0] != encrypt_id_number(id_number(0))[1]:
        cursor.execute("DELETE FROM members_insuredperson WHERE name LIKE 'bench %%'")
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


# The tables the import writes, and the ones their triggers and foreign keys
# touch: each gets a copy for the reference (issue 16's target).
REFERENCE_COPIES = {
    "payments_contribution": "bench_ref_contribution",
    "accounts_journaltransaction": "bench_ref_journaltransaction",
    "accounts_posting": "bench_ref_posting",
    "accounts_ledgeraccount": "bench_ref_ledgeraccount",
    "accounts_balancedelta": "bench_ref_balancedelta",
}
# What the reference COPYs, in this order (a posting needs its transaction).
REFERENCE_WRITTEN = ("payments_contribution", "accounts_journaltransaction", "accounts_posting")
REFERENCE_RUNS = 3


def _renamed(sql: str, names: dict[str, str]) -> str:
    """``sql`` with every whole-word name in ``names`` (schema-qualified or
    not) replaced by its copy's name."""
    pattern = re.compile(r"\b(?:public\.)?(" + "|".join(map(re.escape, names)) + r")\b")
    return pattern.sub(lambda m: names[m.group(1)], sql)


def drop_reference_tables(cursor) -> None:
    cursor.execute("DROP TABLE IF EXISTS " + ", ".join(REFERENCE_COPIES.values()) + " CASCADE")
    cursor.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND left(p.proname, 10) = 'bench_ref_'"
    )
    for (fn,) in cursor.fetchall():
        cursor.execute(f"DROP FUNCTION IF EXISTS {fn}")


def reference_tables(cursor, *, foreign_keys: bool = True) -> list[str]:
    """Copies of the ledger and contribution tables for the reference COPY:
    ``LIKE ... INCLUDING ALL`` (columns, defaults, identity, CHECK constraints,
    indexes), the ledger accounts copied in (the postings' pockets and shared
    accounts, before any trigger: the account guard refuses a new account with
    a balance), then every trigger of the real tables recreated on the copies
    with its function rewritten to the copies' names (the posting-balance
    statement trigger locks and moves the copied pockets, appends deltas to
    the copied deltas and checks the copied postings), and, with
    ``foreign_keys``, every foreign key (LIKE never copies them; they are the
    database's own per-row triggers) pointing at the copies, or at the real
    table where none was made (persons, import batches). Returns what was
    recreated, for the output."""
    drop_reference_tables(cursor)
    real = list(REFERENCE_COPIES)
    for table, copy in REFERENCE_COPIES.items():
        cursor.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")
    cursor.execute("INSERT INTO bench_ref_ledgeraccount SELECT * FROM accounts_ledgeraccount")
    cursor.execute(
        "SELECT t.tgname, t.tgrelid::regclass::text, pg_get_triggerdef(t.oid), p.proname, "
        "pg_get_functiondef(p.oid) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE NOT t.tgisinternal AND t.tgrelid::regclass::text = ANY(%s) ORDER BY 2, 1",
        [real],
    )
    triggers = cursor.fetchall()
    names = dict(REFERENCE_COPIES)
    names.update({fn: f"bench_ref_{fn}" for _n, _t, _d, fn, _f in triggers})
    done = []
    for fn in sorted({fn for _n, _t, _d, fn, _f in triggers}):
        source = next(f for _n, _t, _d, name, f in triggers if name == fn)
        cursor.execute(_renamed(source, names))
    for name, table, definition, _fn, _f in triggers:
        cursor.execute(_renamed(definition, names))
        done.append(f"{table}.{name}")
    if foreign_keys:
        cursor.execute(
            "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s) "
            "ORDER BY 2, 1",
            [real],
        )
        for name, table, definition in cursor.fetchall():
            cursor.execute(
                f"ALTER TABLE {names[table]} ADD CONSTRAINT bench_ref_{name} "
                f"{_renamed(definition, names)}"
            )
            done.append(f"{table}.{name} (foreign key)")
    return done


def export_written(cursor, batch_id: int) -> dict[str, Path]:
    """Every row the first import wrote, as binary COPY files (untimed)."""
    from payments.services import CREDIT_KIND

    queries = {
        "payments_contribution": f"SELECT * FROM payments_contribution WHERE batch_id = {batch_id}",
        "accounts_journaltransaction": (
            f"SELECT * FROM accounts_journaltransaction WHERE kind = '{CREDIT_KIND}'"
        ),
        "accounts_posting": (
            "SELECT p.* FROM accounts_posting p JOIN accounts_journaltransaction t "
            f"ON t.id = p.transaction_id WHERE t.kind = '{CREDIT_KIND}'"
        ),
    }
    files = {}
    for table in REFERENCE_WRITTEN:
        files[table] = path = OUT_DIR / f"reference-{table}.bin"
        with (
            path.open("wb") as f,
            cursor.cursor.copy(
                f"COPY ({queries[table]} ORDER BY 1) TO STDOUT (FORMAT binary)"
            ) as cp,
        ):
            for chunk in cp:
                f.write(chunk)
    return files


def reference_copy(cursor, files: dict[str, Path], *, foreign_keys: bool = True):
    """One timed run: fresh copies (untimed), then the three COPYs in one
    transaction, timed to its commit. Returns (seconds, rows per table,
    what was recreated)."""
    from django.db import transaction

    with transaction.atomic():
        recreated = reference_tables(cursor, foreign_keys=foreign_keys)
    t = time.perf_counter()
    with transaction.atomic():
        for table in REFERENCE_WRITTEN:
            copy = REFERENCE_COPIES[table]
            with (
                files[table].open("rb") as f,
                cursor.cursor.copy(f"COPY {copy} FROM STDIN (FORMAT binary)") as cp,
            ):
                while chunk := f.read(1 << 20):
                    cp.write(chunk)
    seconds = time.perf_counter() - t
    counts = {}
    for table in REFERENCE_WRITTEN:
        cursor.execute(f"SELECT count(*) FROM {REFERENCE_COPIES[table]}")
        counts[table] = cursor.fetchone()[0]
    with transaction.atomic():
        drop_reference_tables(cursor)
    return seconds, counts, recreated


def import_verdict(import_s: float, reference_s: float) -> str:
    """Issue 16's import row: the import at least 1/4 of the rate of a plain
    COPY of every row it writes (rates of the same rows: compare times)."""
    return verdict_markdown(
        [
            (
                "contributions import",
                "at least 1/4 of the rate of a plain COPY of every row it writes "
                "(same indexes, constraints and triggers)",
                f"1/{import_s / reference_s:.1f} "
                f"({reference_s / import_s:.2f} x the reference's rate)",
                import_s <= 4 * reference_s,
            )
        ]
    )


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
        reset_contributions(cursor)
        t = time.perf_counter()
        load_persons(cursor, persons)
        persons_s = time.perf_counter() - t
    write_csv(path, persons)
    data = path.read_bytes()
    # the bench file is larger than the default upload limit (IMPORT_MAX_BYTES)
    from django.conf import settings

    settings.IMPORT_MAX_BYTES = max(settings.IMPORT_MAX_BYTES, len(data))

    t = time.perf_counter()
    batch = contributions_import(data=data, file_name=path.name)
    import_s = time.perf_counter() - t
    assert (batch.rows_imported, batch.rows_bad) == (ROWS, 0), batch.report_name

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

        files = export_written(cursor, batch.pk)
        runs = [reference_copy(cursor, files) for _ in range(REFERENCE_RUNS)]
        reference_s = statistics.median(r[0] for r in runs)
        spread = f"{min(r[0] for r in runs):.2f}-{max(r[0] for r in runs):.2f} s"
        counts, recreated = runs[0][1], runs[0][2]
        no_fk_s = reference_copy(cursor, files, foreign_keys=False)[0]
        for path in files.values():
            path.unlink()
    written = sum(counts.values())
    assert counts["payments_contribution"] == ROWS, counts

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
    print(
        f"| reference: plain COPY of every row the import wrote ({written:,}: "
        f"{counts['payments_contribution']:,} contributions, "
        f"{counts['accounts_journaltransaction']:,} transactions, "
        f"{counts['accounts_posting']:,} postings) into copies with the same indexes, "
        f"constraints, foreign keys and triggers, to commit (median of {REFERENCE_RUNS}: "
        f"{spread}) | {reference_s:.2f} | {ROWS / reference_s:,.0f} |"
    )
    print(
        f"| the same reference without the foreign keys (for comparison) "
        f"| {no_fk_s:.2f} | {ROWS / no_fk_s:,.0f} |"
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
    print()
    print(
        "The reference's copies were made LIKE ... INCLUDING ALL of "
        + ", ".join(REFERENCE_WRITTEN)
        + " (and of accounts_ledgeraccount and accounts_balancedelta, which the posting "
        "trigger moves; the ledger accounts copied in untimed), with these recreated on "
        "the copies, pointing at the copies: "
        + "; ".join(recreated)
        + ". Left out: only the foreign keys of other tables that reference these "
        "(their triggers fire on UPDATE or DELETE of a referenced row, never on INSERT)."
    )
    print()
    print(
        f"Import: {ROWS / import_s:,.0f} rows/s; {import_s / copy_s:.1f}x the time of a "
        f"plain COPY of the file ({copy_s / import_s:.3f} x its rate), "
        f"{import_s / reference_s:.2f}x the time of the reference."
    )
    print()
    print(import_verdict(import_s, reference_s))


if __name__ == "__main__":
    main()
