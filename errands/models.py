"""Member errands: cross-region treatment filing (异地就医备案) and chronic or
special outpatient disease applications (门诊慢特病), with the policy data the
split applies to them. See docs/adr/0019-member-errands.md."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _


class ErrandStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class FilingKind(models.TextChoices):
    LONG_TERM = "long_term", _("Long-term residence elsewhere")
    TEMPORARY = "temporary", _("Temporary trip")


class FilingDocumentKind(models.TextChoices):
    RESIDENCE_PROOF = "residence_proof", _("Proof of residence (residence permit, etc.)")
    COMMITMENT_LETTER = "commitment_letter", _("Signed personal commitment letter")


class DocumentFields(models.Model):
    """A checked upload kept in private storage (family/uploads.py checks)."""

    document_name = models.CharField(max_length=64, blank=True, editable=False)
    document_type = models.CharField(max_length=20, blank=True)
    document_size = models.PositiveIntegerField(null=True, blank=True)
    document_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True

    @property
    def is_image(self) -> bool:
        return self.document_type in ("image/jpeg", "image/png")


class ReviewFields(models.Model):
    status = models.CharField(
        _("status"), max_length=10, choices=ErrandStatus.choices, default=ErrandStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        abstract = True


class CrossRegionFiling(DocumentFields, ReviewFields):
    """A filing for treatment in another region: long-term residence (with a
    proof of residence or a signed commitment letter in its place) or a
    temporary trip (with dates). Valid once approved, from ``start_date``
    to ``end_date`` (a long-term filing has no end: until withdrawn)."""

    person = models.ForeignKey(
        "members.InsuredPerson",
        on_delete=models.PROTECT,
        related_name="cross_region_filings",
        verbose_name=_("insured person"),
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=FilingKind.choices)
    # A region code (GB/T 2260), city level; shown by name.
    destination = models.CharField(_("destination"), max_length=6)
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("until"), null=True, blank=True)
    document_kind = models.CharField(
        _("document"), max_length=20, choices=FilingDocumentKind.choices, blank=True
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = _("cross-region treatment filing")
        verbose_name_plural = _("cross-region treatment filings")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="long_term", end_date__isnull=True)
                | Q(kind="temporary", end_date__gte=models.F("start_date")),
                name="errands_filing_dates",
            ),
            models.CheckConstraint(
                condition=~Q(kind="long_term") | ~Q(document_name=""),
                name="errands_long_term_has_document",
            ),
        ]
        indexes = [
            models.Index(fields=["person", "status"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} -> {self.destination} ({self.kind}, {self.status})"

    def valid_on(self, day) -> bool:
        return (
            self.status == ErrandStatus.APPROVED
            and self.start_date <= day
            and (self.end_date is None or day <= self.end_date)
        )


class ChronicDisease(models.Model):
    """A chronic or special outpatient disease (门诊慢特病) of the list: policy data."""

    code = models.CharField(_("code"), max_length=8, unique=True)
    name = models.CharField(_("name (Chinese)"), max_length=50)
    name_en = models.CharField(_("name (English)"), max_length=80)
    active = models.BooleanField(_("may be applied for"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("chronic or special outpatient disease")
        verbose_name_plural = _("chronic or special outpatient diseases")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if (translation.get_language() or "").startswith("zh"):
            return self.name
        return f"{self.name_en} ({self.name})"


class ChronicDiseasePolicy(models.Model):
    """The outpatient policy of one disease in one region and year: its own
    deductible, reimbursement ratio and annual ceiling (its own benefit pool)."""

    disease = models.ForeignKey(ChronicDisease, on_delete=models.PROTECT, related_name="policies")
    region = models.CharField(_("region"), max_length=6)
    year = models.PositiveSmallIntegerField(_("year"))
    deductible_fen = models.BigIntegerField(_("deductible (fen)"))
    ratio = models.DecimalField(_("reimbursement ratio"), max_digits=5, decimal_places=4)
    ceiling_fen = models.BigIntegerField(_("annual ceiling (fen)"))

    class Meta:
        verbose_name = _("chronic disease policy")
        verbose_name_plural = _("chronic disease policies")
        constraints = [
            models.UniqueConstraint(
                fields=["disease", "region", "year"], name="errands_one_chronic_policy"
            ),
            models.CheckConstraint(
                condition=Q(ratio__gte=0, ratio__lte=1, deductible_fen__gte=0, ceiling_fen__gte=0),
                name="errands_chronic_policy_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.disease_id} {self.region} {self.year}"


class CrossRegionPolicy(models.Model):
    """What care in another region costs a person insured in ``region``:
    percentage points taken off the home reimbursement ratio, with a valid
    filing for the place (``filed_ratio_cut``) and without
    (``unfiled_ratio_cut``)."""

    region = models.CharField(_("region"), max_length=6)
    year = models.PositiveSmallIntegerField(_("year"))
    filed_ratio_cut = models.DecimalField(
        _("ratio cut with a filing"), max_digits=5, decimal_places=4
    )
    unfiled_ratio_cut = models.DecimalField(
        _("ratio cut without a filing"), max_digits=5, decimal_places=4
    )

    class Meta:
        verbose_name = _("cross-region policy")
        verbose_name_plural = _("cross-region policies")
        constraints = [
            models.UniqueConstraint(fields=["region", "year"], name="errands_one_cross_policy"),
            models.CheckConstraint(
                condition=Q(filed_ratio_cut__gte=0, filed_ratio_cut__lte=1)
                & Q(unfiled_ratio_cut__gte=0, unfiled_ratio_cut__lte=1),
                name="errands_cross_policy_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.year}"


class ChronicApplication(DocumentFields, ReviewFields):
    """An application for a chronic or special outpatient disease, with a
    medical document; approved with a validity period."""

    person = models.ForeignKey(
        "members.InsuredPerson",
        on_delete=models.PROTECT,
        related_name="chronic_applications",
        verbose_name=_("insured person"),
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    disease = models.ForeignKey(
        ChronicDisease, on_delete=models.PROTECT, related_name="+", verbose_name=_("disease")
    )
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("chronic disease application")
        verbose_name_plural = _("chronic disease applications")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="approved")
                | Q(valid_from__isnull=False, valid_until__gte=models.F("valid_from")),
                name="errands_approved_has_validity",
            ),
            models.CheckConstraint(condition=~Q(document_name=""), name="errands_chronic_document"),
        ]
        indexes = [
            models.Index(fields=["person", "status"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.disease_id} ({self.status})"

    def valid_on(self, day) -> bool:
        return (
            self.status == ErrandStatus.APPROVED
            and self.valid_from is not None
            and self.valid_from <= day <= self.valid_until
        )
