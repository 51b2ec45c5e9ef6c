from django.contrib import admin

from .models import BenefitPolicy, Institution, SettlementBatch


@admin.register(BenefitPolicy)
class BenefitPolicyAdmin(admin.ModelAdmin):
    list_display = ["region", "scheme", "care_type", "year", "deductible_fen", "ratio"]
    list_filter = ["region", "scheme", "care_type", "year"]


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "region", "active"]


@admin.register(SettlementBatch)
class SettlementBatchAdmin(admin.ModelAdmin):
    list_display = ["institution", "period", "status", "expense_count", "fund_fen"]
    readonly_fields = [f.name for f in SettlementBatch._meta.fields]
