"""The ledger's database guards cannot be switched off or side-stepped by an
ordinary session (PostgreSQL; docs/adr/0001-ledger.md)."""

import uuid

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from accounts.models import AccountKind, JournalTransaction, LedgerAccount, Posting
from accounts.selectors import account_balances_fen
from accounts.services import institution_payable, ledger_post, member_pockets, system_account
from portal.db import append_only_sql


def _conninfo(dbname):
    db = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=dbname,
    )


@pytest.fixture
def scratch_database():
    """A throwaway database NOT named like a test database (as a production
    one), with one table guarded by portal.db.append_only_sql."""
    name = f"ledger_guard_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(_conninfo(name), autocommit=True) as conn:
            conn.execute("CREATE TABLE accounts_posting (id bigint)")
            conn.execute(append_only_sql("accounts_posting")[0])
            conn.execute("INSERT INTO accounts_posting VALUES (1), (2)")
            yield conn
    finally:
        with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_truncate_switch_does_nothing_outside_a_test_database(scratch_database):
    conn = scratch_database
    conn.execute(f"ALTER DATABASE \"{conn.info.dbname}\" SET portal.allow_truncate = 'on'")
    conn.execute("SET portal.allow_truncate = 'on'")

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("TRUNCATE accounts_posting")

    assert conn.execute("SELECT count(*) FROM accounts_posting").fetchone()[0] == 2


def test_the_truncate_switch_works_in_the_test_database_only_when_on(alice, bob):
    assert connection.settings_dict["NAME"].startswith("test_")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE guard_probe (id bigint)")
        cursor.execute(append_only_sql("guard_probe")[0])
    # Off: refused even here.
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL portal.allow_truncate = 'off'")
        cursor.execute("TRUNCATE guard_probe")
    # On, in a database named test_...: allowed.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL portal.allow_truncate = 'on'")
        cursor.execute("TRUNCATE guard_probe")


def test_every_append_only_guard_has_the_test_database_condition(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname, prosrc FROM pg_proc WHERE proname LIKE '%\\_append\\_only' "
            "ORDER BY proname"
        )
        functions = dict(cursor.fetchall())

    assert {
        "accounts_journaltransaction_append_only",
        "accounts_posting_append_only",
        "accounts_rollover_append_only",
        "audit_auditevent_append_only",
        "claims_settlemententry_append_only",
    } <= set(functions)
    for name, source in functions.items():
        assert "left(current_database(), 5) = 'test_'" in source, name


def _snapshot():
    return (
        sorted(account_balances_fen(LedgerAccount.objects.values_list("pk", flat=True)).items()),
        list(Posting.objects.order_by("id").values_list("id", "transaction_id", "amount_fen")),
    )


def test_balanced_postings_cannot_be_appended_to_an_old_transaction(alice, bob):
    alice_current, _ = member_pockets(alice)
    bob_current, _ = member_pockets(bob)
    fund = system_account(AccountKind.POOLED_FUND)
    old = ledger_post(
        idempotency_key="old", kind="test.credit", postings=[(fund, -1000), (alice_current, 1000)]
    )
    payable = institution_payable(3)
    before = _snapshot()

    with (
        pytest.raises(DatabaseError, match=f"journal transaction {old.pk} is sealed"),
        transaction.atomic(),
    ):
        Posting.objects.bulk_create(
            [
                Posting(transaction=old, account=bob_current, amount_fen=500),
                Posting(transaction=old, account=payable, amount_fen=-500),
            ]
        )

    assert _snapshot() == before


def test_a_new_transaction_still_gets_its_postings_in_one_statement(alice):
    alice_current, _ = member_pockets(alice)
    fund = system_account(AccountKind.POOLED_FUND)
    txn = JournalTransaction.objects.create(idempotency_key="fresh", kind="t", body_hash="-")

    Posting.objects.bulk_create(
        [
            Posting(transaction=txn, account=fund, amount_fen=-70),
            Posting(transaction=txn, account=alice_current, amount_fen=70),
        ]
    )

    alice_current.refresh_from_db()
    assert alice_current.balance_fen == 70


def test_a_cached_balance_cannot_be_updated_directly(alice):
    alice_current, _ = member_pockets(alice)
    fund = system_account(AccountKind.POOLED_FUND)
    ledger_post(idempotency_key="c", kind="t", postings=[(fund, -1000), (alice_current, 1000)])
    before = _snapshot()

    with (
        pytest.raises(DatabaseError, match="balances move only by postings"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE accounts_ledgeraccount SET balance_fen = 999999 WHERE id = %s",
            [alice_current.pk],
        )
    with (
        pytest.raises(DatabaseError, match="balances move only by postings"),
        transaction.atomic(),
    ):
        LedgerAccount.objects.filter(pk=alice_current.pk).update(person=None)
    with pytest.raises(DatabaseError, match="starts at zero"), transaction.atomic():
        LedgerAccount.objects.create(code="rich", kind=AccountKind.POOLED_FUND, balance_fen=10**9)

    assert _snapshot() == before
    assert not LedgerAccount.objects.filter(code="rich").exists()
