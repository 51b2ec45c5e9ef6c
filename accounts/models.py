"""The double-entry ledger (see docs/adr/0001-ledger.md).

Every movement of money is one ``JournalTransaction`` whose ``Posting`` rows sum
to zero. An account's balance is the sum of its postings. A member pocket also
keeps it on its ``LedgerAccount`` row (``balance_fen``), changed in the same
database transaction, so reads are one row and a CHECK keeps it at or above
zero. Every other account (pooled fund, receivable, institution payables) is
shared by many writers, so no posting updates its row: its ``balance_fen`` is a
snapshot, and each posting statement appends a ``BalanceDelta``; the balance
is the snapshot plus its pending deltas (``accounts.selectors.account_balance_fen``),
and a background step folds deltas into the snapshot.

Sign convention: a positive posting increases the account's balance (money
into a member's pocket is positive there and negative on the source account).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AccountKind(models.TextChoices):
    MEMBER_CURRENT = "member_current", _("Current-year funds")
    MEMBER_PRIOR = "member_prior", _("Prior-years surplus")
    POOLED_FUND = "pooled_fund", _("Pooled fund")
    CONTRIBUTIONS_RECEIVABLE = "contributions_receivable", _("Contributions receivable")
    INSTITUTION_PAYABLE = "institution_payable", _("Institution payable")
    # Resident-scheme contributions paid from members' prior-years surpluses
    # for their relatives (2024 rules; docs/adr/0018).
    RESIDENT_CONTRIBUTIONS = "resident_contributions", _("Resident-scheme contributions received")


MEMBER_POCKETS = (AccountKind.MEMBER_CURRENT, AccountKind.MEMBER_PRIOR)


class LedgerAccount(models.Model):
    code = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=AccountKind.choices)
    person = models.ForeignKey(
        "members.InsuredPerson",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    # The designated institution (claims.Institution) for a payable account.
    # A plain id, not a foreign key, so the ledger does not depend on claims.
    institution_id = models.BigIntegerField(null=True, blank=True)
    # A member pocket: its balance. Any other account: the snapshot its
    # pending ``BalanceDelta`` rows add to (read ``account_balance_fen``).
    balance_fen = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            # A member pocket never goes below zero, whatever writes it.
            models.CheckConstraint(
                condition=~models.Q(kind__in=MEMBER_POCKETS) | models.Q(balance_fen__gte=0),
                name="ledger_member_pocket_not_negative",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind__in=MEMBER_POCKETS) | models.Q(person__isnull=False),
                name="ledger_member_pocket_has_person",
            ),
            models.UniqueConstraint(
                fields=["person", "kind"],
                condition=models.Q(person__isnull=False),
                name="ledger_one_pocket_of_a_kind_per_person",
            ),
            models.UniqueConstraint(
                fields=["institution_id", "kind"],
                condition=models.Q(institution_id__isnull=False),
                name="ledger_one_account_of_a_kind_per_institution",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class BalanceDelta(models.Model):
    """What one posting statement moved on one non-member account, not yet
    folded into that account's ``balance_fen`` snapshot (ADR 0001).

    Written only by the ledger's posting trigger (PostgreSQL refuses any other
    INSERT and every UPDATE); deleting rows is the fold: a trigger adds what
    they moved to the snapshot in the same statement, so the balance
    (snapshot + pending deltas) never changes by a fold."""

    # Indexed once, by accounts_delta_account (the column's own index was a twin).
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    amount_fen = models.BigIntegerField()

    class Meta:
        verbose_name = _("pending balance change")
        verbose_name_plural = _("pending balance changes")
        indexes = [models.Index(fields=["account"], name="accounts_delta_account")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount_fen}"


class JournalTransaction(models.Model):
    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, db_index=True)
    # SHA-256 of the canonical body: the same key with another body is refused.
    body_hash = models.CharField(max_length=64)
    memo = models.CharField(max_length=255, blank=True)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The day the money moved, in the portal's time zone: what "the balance as
    # of 31 December" sums (ADR 0002). Today for anything done now; a loader
    # replaying history gives the historical day; a reversal is valued the day
    # it is posted.
    value_date = models.DateField(default=timezone.localdate, db_index=True)

    class Meta:
        verbose_name = _("journal transaction")
        verbose_name_plural = _("journal transactions")

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class Posting(models.Model):
    # Neither key has an index of its own: (transaction, account) and
    # (account, id) below lead with them and serve every look-up by either,
    # so a posting is written into three indexes, not five (issue 16).
    transaction = models.ForeignKey(
        JournalTransaction, on_delete=models.PROTECT, related_name="postings", db_index=False
    )
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="postings", db_index=False
    )
    amount_fen = models.BigIntegerField()

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        indexes = [models.Index(fields=["account", "id"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount_fen=0), name="ledger_posting_not_zero"
            ),
            models.UniqueConstraint(
                fields=["transaction", "account"], name="ledger_one_posting_per_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount_fen}"


class Rollover(models.Model):
    """The year-end rollover of one member for one year: written once, even
    when nothing moved, so a re-run, a resumed run or a late run finds it and
    changes nothing (ADR 0002). Append-only on PostgreSQL."""

    person = models.ForeignKey(
        "members.InsuredPerson", on_delete=models.PROTECT, related_name="rollovers"
    )
    year = models.PositiveSmallIntegerField()
    # What was moved: max(0, min(balance_as_of_fen, balance_at_run_fen)).
    amount_fen = models.BigIntegerField()
    # The current-year pocket's balance as of 31 December of ``year`` (its
    # postings valued on or before that day), and its balance when the run
    # reached this member.
    balance_as_of_fen = models.BigIntegerField()
    balance_at_run_fen = models.BigIntegerField()
    transaction = models.OneToOneField(
        JournalTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("year-end rollover")
        verbose_name_plural = _("year-end rollovers")
        constraints = [
            models.UniqueConstraint(fields=["person", "year"], name="ledger_one_rollover_per_year"),
            models.CheckConstraint(
                condition=models.Q(amount_fen__gte=0), name="ledger_rollover_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_fen=0, transaction__isnull=True)
                | models.Q(amount_fen__gt=0, transaction__isnull=False),
                name="ledger_rollover_has_transaction_iff_money_moved",
            ),
        ]

    def __str__(self) -> str:
        return f"rollover {self.year} of {self.person_id}: {self.amount_fen}"


class YearEndClosing(models.Model):
    """One row per rolled-over year; ``completed_at`` is set when every member
    has their ``Rollover`` row. A later year is refused until the earlier
    years with ledger activity are complete (ADR 0002)."""

    year = models.PositiveSmallIntegerField(unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("year-end closing")
        verbose_name_plural = _("year-end closings")

    def __str__(self) -> str:
        return f"closing {self.year}"
