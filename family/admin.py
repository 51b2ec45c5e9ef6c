from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from portal.fields import InvalidFormIs400

from .models import Relationship, RelationshipPolicy


class RelationshipPolicyForm(forms.ModelForm):
    """The relationships as check boxes: only ``Relationship`` values are stored."""

    relationships = forms.MultipleChoiceField(
        label=_("Relationships that qualify"),
        choices=Relationship.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = RelationshipPolicy
        fields = [
            "region",
            "effective_from",
            "relationships",
            "cross_province",
            "allow_until_ended",
            "note",
        ]

    def clean_relationships(self):
        chosen = set(self.cleaned_data["relationships"])
        return [v for v in Relationship.values if v in chosen]  # stable order


@admin.register(RelationshipPolicy)
class RelationshipPolicyAdmin(InvalidFormIs400, admin.ModelAdmin):
    """Family mutual assistance per region and date (docs/adr/0017): staff
    keep it current here; a new row from a future date takes over that day."""

    form = RelationshipPolicyForm
    list_display = ("region", "effective_from", "relationships", "cross_province", "note")
    list_filter = ("cross_province", "allow_until_ended")
    search_fields = ("region", "note")
    ordering = ("region", "-effective_from")
