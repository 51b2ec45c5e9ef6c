"""Errands policy data in the admin: the chronic disease list, each disease's
policy per region and year, and the cross-region policies. Money in yuan, read
by the one amount parser (docs/adr/0007). Filings and applications are decided
in the review queue, not here."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from portal.fields import AmountFormField, InvalidFormIs400
from portal.money import MAX_EXPENSE_FEN

from .models import ChronicDisease, ChronicDiseasePolicy, CrossRegionPolicy


class ChronicDiseasePolicyForm(forms.ModelForm):
    deductible_fen = AmountFormField(label=_("Deductible (yuan)"), max_fen=MAX_EXPENSE_FEN)
    ceiling_fen = AmountFormField(label=_("Annual ceiling (yuan)"), max_fen=MAX_EXPENSE_FEN)

    class Meta:
        model = ChronicDiseasePolicy
        fields = ["disease", "region", "year", "deductible_fen", "ratio", "ceiling_fen"]


@admin.register(ChronicDisease)
class ChronicDiseaseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "active"]


@admin.register(ChronicDiseasePolicy)
class ChronicDiseasePolicyAdmin(InvalidFormIs400, admin.ModelAdmin):
    form = ChronicDiseasePolicyForm
    list_display = ["disease", "region", "year", "deductible_fen", "ratio", "ceiling_fen"]
    list_filter = ["region", "year", "disease"]


@admin.register(CrossRegionPolicy)
class CrossRegionPolicyAdmin(InvalidFormIs400, admin.ModelAdmin):
    list_display = ["region", "year", "filed_ratio_cut", "unfiled_ratio_cut"]
    list_filter = ["region", "year"]
