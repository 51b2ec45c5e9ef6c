"""Writes to the ledger. See docs/adr/0001-ledger.md for the rules."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from members.models import InsuredPerson
from portal.errors import ApplicationError, Conflict

from .models import MEMBER_POCKETS, AccountKind, JournalTransaction, LedgerAccount, Posting

SYSTEM_KINDS = (AccountKind.POOLED_FUND, AccountKind.CONTRIBUTIONS_RECEIVABLE)


class InsufficientFunds(ApplicationError):
    status_code = 409

    def __init__(self, account: LedgerAccount, needed_fen: int):
        super().__init__(
            _("Not enough money in %(pocket)s: %(balance).2f available, %(needed).2f needed.")
            % {
                "pocket": account.get_kind_display(),
                "balance": account.balance_fen / 100,
                "needed": needed_fen / 100,
            },
            code="insufficient_funds",
            extra={"account": account.code},
        )
        self.account = account


def _get_or_create_account(*, code: str, **fields) -> LedgerAccount:
    account = LedgerAccount.objects.filter(code=code).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(code=code, **fields)
    except IntegrityError:  # created concurrently
        return LedgerAccount.objects.get(code=code)


def system_account(kind: str) -> LedgerAccount:
    """The single pooled-fund or contributions-receivable account."""
    if kind not in SYSTEM_KINDS:
        raise ValueError(f"{kind} is not a system account")
    return _get_or_create_account(code=str(kind), kind=kind)


def member_pockets(person: InsuredPerson) -> tuple[LedgerAccount, LedgerAccount]:
    """The person's (current-year, prior-years) pockets, created on first use."""
    return (
        _get_or_create_account(
            code=f"member:{person.pk}:current", kind=AccountKind.MEMBER_CURRENT, person=person
        ),
        _get_or_create_account(
            code=f"member:{person.pk}:prior", kind=AccountKind.MEMBER_PRIOR, person=person
        ),
    )


def institution_payable(institution_id: int) -> LedgerAccount:
    return _get_or_create_account(
        code=f"institution:{institution_id}:payable",
        kind=AccountKind.INSTITUTION_PAYABLE,
        institution_id=institution_id,
    )


def _body_hash(kind: str, postings: dict[int, int], reverses_id: int | None) -> str:
    body = {"kind": kind, "postings": sorted(postings.items()), "reverses": reverses_id}
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


def _normalise(postings: Iterable[tuple[LedgerAccount | int, int]]) -> dict[int, int]:
    merged: dict[int, int] = defaultdict(int)
    for account, amount in postings:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError("posting amounts are integer fen")
        merged[account if isinstance(account, int) else account.pk] += amount
    merged = {k: v for k, v in merged.items() if v != 0}
    if len(merged) < 2:
        raise ApplicationError(_("A transaction moves money between at least two accounts."))
    if sum(merged.values()) != 0:
        raise ApplicationError(_("A transaction's postings must sum to zero."), code="unbalanced")
    return merged


def _existing(key: str, body_hash: str) -> JournalTransaction | None:
    existing = JournalTransaction.objects.filter(idempotency_key=key).first()
    if existing is not None and existing.body_hash != body_hash:
        raise Conflict(
            _("This idempotency key was already used for a different transaction."),
            code="idempotency_conflict",
        )
    return existing


def ledger_post(
    *,
    idempotency_key: str,
    kind: str,
    postings: Sequence[tuple[LedgerAccount | int, int]],
    memo: str = "",
    reverses: JournalTransaction | None = None,
) -> JournalTransaction:
    """Post one balanced transaction, exactly once per idempotency key.

    1. Merge and check the postings (integers, at least two accounts, sum zero).
    2. Lock the member pockets that lose money, in primary-key order (no
       deadlocks), so concurrent spends on one pocket queue up.
    3. With the locks held, look for the key: the same key and body returns the
       first transaction; the same key with another body is a Conflict.
    4. Check each debited pocket covers its debit (InsufficientFunds names it).
    5. Insert the transaction and all its postings in one statement; the
       database then updates the cached balances, refuses an unbalanced
       transaction and, by a CHECK constraint, any pocket below zero.
    """
    merged = _normalise(postings)
    body_hash = _body_hash(kind, merged, reverses.pk if reverses else None)
    debits = {aid: -amt for aid, amt in merged.items() if amt < 0}
    try:
        with transaction.atomic():
            locked = list(
                LedgerAccount.objects.select_for_update()
                .filter(pk__in=debits, kind__in=MEMBER_POCKETS)
                .order_by("pk")
            )
            existing = _existing(idempotency_key, body_hash)
            if existing is not None:
                return existing
            for account in locked:
                if account.balance_fen < debits[account.pk]:
                    raise InsufficientFunds(account, debits[account.pk])
            txn = JournalTransaction.objects.create(
                idempotency_key=idempotency_key,
                kind=kind,
                body_hash=body_hash,
                memo=memo[:255],
                reverses=reverses,
            )
            Posting.objects.bulk_create(
                [
                    Posting(transaction=txn, account_id=aid, amount_fen=amt)
                    for aid, amt in merged.items()
                ]
            )
            return txn
    except IntegrityError:
        # Another request with the same key committed first.
        existing = _existing(idempotency_key, body_hash)
        if existing is None:
            raise
        return existing


def ledger_reverse(
    *, original: JournalTransaction, idempotency_key: str, memo: str = ""
) -> JournalTransaction:
    """Undo a transaction by posting its mirror image (history is never edited).

    A transaction is reversed at most once (unique ``reverses``).
    """
    postings = [(p.account_id, -p.amount_fen) for p in original.postings.all()]
    return ledger_post(
        idempotency_key=idempotency_key,
        kind=f"{original.kind}.reversal",
        postings=postings,
        memo=memo or f"reversal of {original.idempotency_key}",
        reverses=original,
    )
