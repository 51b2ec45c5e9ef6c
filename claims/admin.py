from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from portal.fields import AmountFormField, InvalidFormIs400
from portal.money import MAX_EXPENSE_FEN

from .models import BenefitPolicy, Institution, SettlementBatch


class BenefitPolicyForm(forms.ModelForm):
    """Money in yuan, read by the one amount parser (docs/adr/0007)."""

    deductible_fen = AmountFormField(label=_("Deductible (yuan)"), max_fen=MAX_EXPENSE_FEN)
    ceiling_fen = AmountFormField(label=_("Annual ceiling (yuan)"), max_fen=MAX_EXPENSE_FEN)

    class Meta:
        model = BenefitPolicy
        fields = [
            "region",
            "scheme",
            "care_type",
            "year",
            "pool",
            "deductible_fen",
            "ratio",
            "ceiling_fen",
            "class_b_self_ratio",
            "current_pocket_allowed",
        ]


@admin.register(BenefitPolicy)
class BenefitPolicyAdmin(InvalidFormIs400, admin.ModelAdmin):
    form = BenefitPolicyForm
    list_display = ["region", "scheme", "care_type", "year", "deductible_fen", "ratio"]
    list_filter = ["region", "scheme", "care_type", "year"]


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "region", "active"]


@admin.register(SettlementBatch)
class SettlementBatchAdmin(admin.ModelAdmin):
    list_display = ["institution", "period", "status", "expense_count", "fund_fen"]
    readonly_fields = [f.name for f in SettlementBatch._meta.fields]
