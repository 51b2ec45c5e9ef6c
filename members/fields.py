"""Identity-number input fields: the one parser (``members.idnumber``) as a
form field and as a serializer field.

Every form and API that takes an identity number declares it with one of
these, so a typed string gets the same verdict everywhere (docs/adr/0009).
Neither strips the input itself: Django's and DRF's ``CharField`` strip every
Unicode space (ideographic, no-break), which would let ``"\\u3000" + number``
through; only the parser decides what is stripped (ASCII space, tab, CR, LF).
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .idnumber import parse_id_number


def clean_id_number(raw) -> str:
    """The normalised number, or ``ValidationError`` with the parser's message
    and code (``non_ascii``, ``format``, ``checksum``, ...)."""
    if not isinstance(raw, str):
        raw = ""
    return parse_id_number(raw).value


class IdNumberFormField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", None)
        kwargs["strip"] = False
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("autocomplete", "off")
        self.widget.attrs.setdefault("maxlength", "20")

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return value
        try:
            return clean_id_number(value)
        except ValidationError as exc:
            raise ValidationError(exc.messages[0], code=exc.code) from None


@extend_schema_field(OpenApiTypes.STR)
class IdNumberSerializerField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs["trim_whitespace"] = False
        kwargs.setdefault("help_text", "18 characters: 17 ASCII digits and a digit or X")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return clean_id_number(data)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages[0], code=exc.code) from None
