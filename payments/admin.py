from django.contrib import admin

from audit.admin_mixins import PersonDataAdminMixin

from .models import Contribution, ImportBatch, PolicyYear


@admin.register(PolicyYear)
class PolicyYearAdmin(admin.ModelAdmin):
    """Policy parameters per region and year: staff keep them current here."""

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
