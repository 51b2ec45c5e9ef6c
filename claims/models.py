"""Expenses at designated institutions, their split, and settlement batches.

See docs/adr/0005-settlement-exactly-once.md for the rules that must hold.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import InsuranceType
from portal.money import format_yuan


class InstitutionKind(models.TextChoices):
    HOSPITAL = "hospital", _("Designated hospital")
    PHARMACY = "pharmacy", _("Designated retail pharmacy")


class CareType(models.TextChoices):
    OUTPATIENT = "outpatient", _("Outpatient")
    EMERGENCY = "emergency", _("Emergency")
    INPATIENT = "inpatient", _("Inpatient")
    PHARMACY = "pharmacy", _("Retail pharmacy")


class CatalogClass(models.TextChoices):
    A = "A", _("Class A")
    B = "B", _("Class B")
    SELF_FUNDED = "self", _("Self-funded")


class BenefitPool(models.TextChoices):
    """Care types sharing one deductible and one annual ceiling."""

    OUTPATIENT = "outpatient", _("Outpatient and pharmacy")
    INPATIENT = "inpatient", _("Inpatient")


class Institution(models.Model):
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=InstitutionKind.choices)
    region = models.CharField(_("region"), max_length=6)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        verbose_name = _("designated institution")
        verbose_name_plural = _("designated institutions")

    def __str__(self) -> str:
        return self.name


class InstitutionToken(models.Model):
    """An API token: only its SHA-256 is stored; the token is shown once."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="tokens")
    token_sha256 = models.CharField(max_length=64, unique=True)
    # The first characters, so staff can tell tokens apart without the secret.
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("institution API token")
        verbose_name_plural = _("institution API tokens")

    def __str__(self) -> str:
        return f"{self.institution_id}:{self.prefix}…"


class BenefitPolicy(models.Model):
    """Policy parameters for one region, scheme, care type and year."""

    region = models.CharField(_("region"), max_length=6)
    scheme = models.CharField(_("scheme"), max_length=10, choices=InsuranceType.choices)
    care_type = models.CharField(_("care type"), max_length=12, choices=CareType.choices)
    year = models.PositiveSmallIntegerField(_("year"))
    pool = models.CharField(_("benefit pool"), max_length=12, choices=BenefitPool.choices)
    deductible_fen = models.BigIntegerField(_("deductible (fen)"))
    ratio = models.DecimalField(_("reimbursement ratio"), max_digits=5, decimal_places=4)
    ceiling_fen = models.BigIntegerField(_("annual ceiling (fen)"))
    class_b_self_ratio = models.DecimalField(
        _("class B first self-borne ratio"), max_digits=5, decimal_places=4
    )
    current_pocket_allowed = models.BooleanField(_("current-year funds may pay"))

    class Meta:
        verbose_name = _("benefit policy")
        verbose_name_plural = _("benefit policies")
        constraints = [
            models.UniqueConstraint(
                fields=["region", "scheme", "care_type", "year"], name="claims_one_policy"
            ),
            models.CheckConstraint(
                condition=Q(ratio__gte=0, ratio__lte=1)
                & Q(class_b_self_ratio__gte=0, class_b_self_ratio__lte=1)
                & Q(deductible_fen__gte=0, ceiling_fen__gte=0),
                name="claims_policy_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.scheme} {self.care_type} {self.year}"


class FundAccumulator(models.Model):
    """Per person, year and benefit pool: deductible used and fund paid so far.

    Locked FOR UPDATE by every expense of the person in that pool, inside the
    expense's transaction, so two expenses at once never share the same room.
    """

    person = models.ForeignKey("members.InsuredPerson", on_delete=models.PROTECT)
    year = models.PositiveSmallIntegerField()
    pool = models.CharField(max_length=12, choices=BenefitPool.choices)
    deductible_used_fen = models.BigIntegerField(default=0)
    fund_paid_fen = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["person", "year", "pool"], name="claims_one_accumulator"
            ),
            models.CheckConstraint(
                condition=Q(deductible_used_fen__gte=0, fund_paid_fen__gte=0),
                name="claims_accumulator_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.year} {self.pool}"


class ExpenseStatus(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    REVERSED = "reversed", _("Reversed (refunded)")


class SettlementBatch(models.Model):
    """What the pooled fund owes one institution, settled on one day.

    A batch covers the work (unsettled fund parts and reversals of settled
    ones) created before ``cutoff``; it is filled in chunks, each chunk one
    database transaction with its own ledger transaction.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a worker")
        RUNNING = "running", _("Settling")
        DONE = "done", _("Settled")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="batches")
    period = models.DateField(_("settlement day"))
    cutoff = models.DateTimeField(_("covers work before"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    expected_count = models.BigIntegerField(default=0)
    chunks_done = models.IntegerField(default=0)
    expense_count = models.BigIntegerField(default=0)
    reversal_count = models.BigIntegerField(default=0)
    fund_fen = models.BigIntegerField(_("fund parts"), default=0)
    reversed_fen = models.BigIntegerField(_("reversed fund parts"), default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The lowest and highest id of the expenses (not reversals) this batch
    # settled: where its claims lie among the institution's expenses, so the
    # staff page finds them without an index on every settlement entry.
    lowest_expense_id = models.BigIntegerField(null=True, editable=False)
    highest_expense_id = models.BigIntegerField(null=True, editable=False)
    # The last sign of life of a worker settling it (task start, each chunk),
    # or when it was (re)opened or sent again: an unfinished batch whose
    # heartbeat is older than CLAIMS_SETTLEMENT_STALL_SECONDS is sent again
    # by the stall sweeper (ADR 0005).
    heartbeat_at = models.DateTimeField(null=True, editable=False)
    resumed_count = models.IntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("settlement batch")
        verbose_name_plural = _("settlement batches")
        constraints = [
            models.UniqueConstraint(fields=["institution", "period"], name="claims_one_batch"),
        ]
        indexes = [
            # The stall sweeper's question, every minute: a few unfinished
            # batches among all those ever settled.
            models.Index(
                fields=["heartbeat_at"],
                condition=~Q(status="done"),
                name="claims_batch_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.institution_id} {self.period}"

    @property
    def net_fen(self) -> int:
        return self.fund_fen - self.reversed_fen

    @property
    def done_count(self) -> int:
        return self.expense_count + self.reversal_count

    @property
    def status_label(self) -> str:
        """What staff read: a batch sent again after its worker stopped says so."""
        if self.status == self.Status.RUNNING and self.resumed_count:
            return str(_("Settling again after a stopped worker"))
        return str(self.get_status_display())

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE or not self.expected_count:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, self.done_count * 100 // self.expected_count)


class SettlementChunk(models.Model):
    """One committed step of a batch: its items, totals and ledger transaction."""

    batch = models.ForeignKey(SettlementBatch, on_delete=models.PROTECT, related_name="chunks")
    number = models.IntegerField()
    expense_count = models.IntegerField()
    reversal_count = models.IntegerField()
    fund_fen = models.BigIntegerField()
    reversed_fen = models.BigIntegerField()
    ledger_txn = models.OneToOneField(
        "accounts.JournalTransaction", null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "number"], name="claims_one_chunk_number"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.number}"


class Expense(models.Model):
    # (no index of its own: claims_expense_institution starts with it)
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="expenses", db_index=False
    )
    idempotency_key = models.CharField(max_length=100)
    request_sha256 = models.CharField(max_length=64)
    # Found through claims_patient_recent (patient, date, id): no index of its own.
    patient = models.ForeignKey(
        "members.InsuredPerson", on_delete=models.PROTECT, related_name="expenses", db_index=False
    )
    service_date = models.DateField(_("date"))
    care_type = models.CharField(_("care type"), max_length=12, choices=CareType.choices)
    policy = models.ForeignKey(BenefitPolicy, on_delete=models.PROTECT, related_name="+")
    total_fen = models.BigIntegerField(_("total"))
    fund_fen = models.BigIntegerField(_("pooled fund"))
    account_fen = models.BigIntegerField(_("personal account"))
    cash_fen = models.BigIntegerField(_("cash"))
    # The patient's part of covered items (自理 + 自负), for the tax deduction.
    self_borne_fen = models.BigIntegerField(_("self-borne"))
    self_funded_fen = models.BigIntegerField(_("self-funded"))
    deductible_fen = models.BigIntegerField(default=0)
    # The benefit pool whose deductible and ceiling it used, when not the
    # policy's (a chronic disease's own pool, "mt:<code>"), and why its terms
    # differ from the home policy (errands, ADR 0019).
    pool = models.CharField(max_length=12, blank=True, default="")
    basis = models.JSONField(default=dict, blank=True)
    balance_current_after_fen = models.BigIntegerField(null=True)
    balance_prior_after_fen = models.BigIntegerField(null=True)
    ledger_txn = models.OneToOneField(
        "accounts.JournalTransaction",
        null=True,
        on_delete=models.PROTECT,
        related_name="expense",
    )
    status = models.CharField(
        max_length=10, choices=ExpenseStatus.choices, default=ExpenseStatus.ACCEPTED
    )
    reversal_txn = models.OneToOneField(
        "accounts.JournalTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="expense_reversed",
    )
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversal_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Settlement state is not kept on this (wide, much-indexed) row: see
    # SettlementWork (what is still to settle) and SettlementEntry (what each
    # batch settled), ADR 0005.

    class Meta:
        verbose_name = _("expense")
        verbose_name_plural = _("expenses")
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "idempotency_key"], name="claims_one_expense_per_key"
            ),
            models.CheckConstraint(
                condition=Q(fund_fen__gte=0, account_fen__gte=0, cash_fen__gte=0)
                & Q(
                    total_fen=models.F("fund_fen") + models.F("account_fen") + models.F("cash_fen")
                ),
                name="claims_expense_split_adds_up",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "-service_date", "-id"], name="claims_patient_recent"),
            # An institution's expenses in id order: the settlement batch page
            # and CSV walk a batch's id range here (SettlementBatch.lowest_expense_id).
            models.Index(fields=["institution", "id"], name="claims_expense_institution"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.care_type} {format_yuan(self.total_fen)}"


class SettlementWork(models.Model):
    """What is still to be settled: a narrow queue, one row per piece of work.

    Written in the transaction that creates the work: ``expense_submit`` (kind
    ``expense``) and ``expense_reverse`` of an already settled expense (kind
    ``reversal``); a refund before settlement deletes the ``expense`` row, so
    it is never settled. A settlement chunk deletes the rows it settles (the
    DELETE is the claim: a row is deleted once) and writes a SettlementEntry
    for each. At most one row per expense at any time (an expense is reversed
    only after its own work is gone), hence ``expense`` as primary key.
    """

    class Kind(models.TextChoices):
        EXPENSE = "expense", _("Expense")
        REVERSAL = "reversal", _("Reversal")

    expense = models.OneToOneField(
        Expense, primary_key=True, on_delete=models.PROTECT, related_name="settlement_work"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # (no index of its own: claims_work_queue starts with it)
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # created_at of the expense, or reversed_at of the reversal: a batch takes
    # the work due before its cutoff.
    due_at = models.DateTimeField()
    fund_fen = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["institution", "expense"], name="claims_work_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.expense_id}"


class SettlementEntry(models.Model):
    """The settlement ledger: every claim a batch covers, one row each.

    Insert-only (a trigger refuses UPDATE and DELETE). The primary key
    (expense, reversal) is the database's own guarantee that an expense is
    settled at most once and its reversal at most once. ``chunk`` is the
    batch's chunk (and so its ledger transaction); NULL only for reversals
    settled before this table existed (the old schema did not record it).

    No per-row foreign-key constraints: a deferred FK check is one query per
    row, the largest cost of settling a million claims. The rows are only
    ever made from SettlementWork rows (whose expense FK is checked) by the
    chunk holding its batch row, and expenses and batches are never deleted.
    """

    pk = models.CompositePrimaryKey("expense", "reversal")
    expense = models.ForeignKey(
        Expense,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the primary key starts with it
        related_name="settlement_entries",
    )
    reversal = models.BooleanField()
    batch = models.ForeignKey(
        SettlementBatch,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # found through the institution's expenses (claims.selectors)
        related_name="entries",
    )
    chunk = models.IntegerField(null=True)

    class Meta:
        verbose_name_plural = "settlement entries"
        indexes = [
            # A batch's reversals in expense order (the staff page and CSV).
            # A batch's expenses need no index here: they are the
            # institution's expenses between the batch's lowest and highest
            # expense id that have an entry of this batch (claims_expense_
            # institution, then this table's primary key). Indexing every
            # entry by batch cost a third of settling a million claims.
            models.Index(
                fields=["batch", "expense"],
                condition=Q(reversal=True),
                name="claims_entry_batch_reversals",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.expense_id}{'-' if self.reversal else ''}"


class ExpenseLine(models.Model):
    expense = models.ForeignKey(Expense, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField()
    catalog_class = models.CharField(max_length=4, choices=CatalogClass.choices)
    description = models.CharField(max_length=200, blank=True)
    amount_fen = models.BigIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="claims_line_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.catalog_class} {format_yuan(self.amount_fen)}"


class Payer(models.TextChoices):
    FUND = "fund", _("Pooled fund")
    CURRENT = "current", _("Current-year funds")
    PRIOR = "prior", _("Prior-years surplus")
    RELATIVE_PRIOR = "relative_prior", _("A relative's prior-years surplus")
    CASH = "cash", _("Cash")


class ExpensePart(models.Model):
    """Who paid what of an expense, and why (``reason_code`` + ``reason_params``,
    rendered in the reader's language by ``claims.split.reason_text``)."""

    expense = models.ForeignKey(Expense, on_delete=models.PROTECT, related_name="parts")
    position = models.PositiveSmallIntegerField()
    payer = models.CharField(max_length=16, choices=Payer.choices)
    component = models.CharField(max_length=16)
    amount_fen = models.BigIntegerField()
    # Found through claims_part_grantor (every part that has a grantor).
    grantor = models.ForeignKey(
        "members.InsuredPerson",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    reason_code = models.CharField(max_length=32)
    reason_params = models.JSONField(default=dict)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="claims_part_positive"),
        ]
        indexes = [
            models.Index(
                fields=["grantor", "payer"],
                condition=Q(grantor__isnull=False),
                name="claims_part_grantor",
            )
        ]

    def __str__(self) -> str:
        return f"{self.payer} {self.component} {format_yuan(self.amount_fen)}"

    @property
    def reason(self) -> str:
        from .split import reason_text

        return reason_text(self.reason_code, self.reason_params)
