from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from audit.admin_mixins import PersonDataAdminMixin
from portal.fields import AmountFormField, InvalidFormIs400
from portal.money import MAX_BASE_FEN, MAX_CONTRIBUTION_FEN

from .models import Contribution, ImportBatch, PolicyYear


class PolicyYearForm(forms.ModelForm):
    """Money in yuan, read by the one amount parser (docs/adr/0007)."""

    average_wage_fen = AmountFormField(
        label=_("Average monthly wage (yuan)"),
        max_fen=MAX_BASE_FEN,
        help_text=_("The regional average monthly wage the base floor and cap derive from."),
    )
    retiree_monthly_credit_fen = AmountFormField(
        label=_("Retiree monthly credit (yuan)"),
        max_fen=MAX_CONTRIBUTION_FEN,
        help_text=_("Fixed monthly credit to a retiree's personal account, from the pooled fund."),
    )

    class Meta:
        model = PolicyYear
        fields = [
            "region",
            "year",
            "average_wage_fen",
            "base_floor_ratio",
            "base_cap_ratio",
            "employer_rate",
            "individual_rate",
            "credit_rate",
            "retiree_monthly_credit_fen",
        ]


@admin.register(PolicyYear)
class PolicyYearAdmin(InvalidFormIs400, admin.ModelAdmin):
    """Policy parameters per region and year: staff keep them current here."""

    form = PolicyYearForm

    list_display = (
        "region",
        "year",
        "average_wage_fen",
        "base_floor_ratio",
        "base_cap_ratio",
        "employer_rate",
        "individual_rate",
        "credit_rate",
        "retiree_monthly_credit_fen",
    )
    list_filter = ("year", "region")
    search_fields = ("region",)


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = (
        "file_name",
        "created_at",
        "uploaded_by",
        "rows_total",
        "rows_imported",
        "rows_already",
        "rows_bad",
    )
    readonly_fields = [f.name for f in ImportBatch._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Contribution)
class ContributionAdmin(PersonDataAdminMixin, admin.ModelAdmin):
    """Read-only: records come from imports; credits are in the ledger. Every
    page is audited with the persons it shows (audit/admin_mixins.py)."""

    audit_person_attr = "person_id"

    list_display = (
        "person",
        "period",
        "base_fen",
        "employer_fen",
        "individual_fen",
        "credited_fen",
        "status",
    )
    list_filter = ("status", "payer")
    list_select_related = ("person",)
    raw_id_fields = ("person", "batch")
    date_hierarchy = "period"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
