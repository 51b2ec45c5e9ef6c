"""Amount fields for forms, the admin and the API: each reads its input through
``portal.money.parse_amount`` with the field's stated maximum (docs/adr/0007),
so an odd value (``1e20``, full-width digits, ``1_000``, a no-break space, a
number past 64 bits) is the field's own error, never a 500 or a silent guess.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .money import fen_to_yuan, parse_amount


class AmountFormField(forms.CharField):
    """Yuan typed into a form -> integer fen (``None`` when empty and not required).

    Not stripped by Django (``str.strip`` would silently drop a no-break
    space); ``parse_amount`` strips ASCII spaces and tabs only.
    """

    def __init__(self, *, max_fen: int, min_fen: int = 0, **kwargs):
        self.max_fen = max_fen
        self.min_fen = min_fen
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        super().__init__(strip=False, **kwargs)

    def prepare_value(self, value):
        # An initial value from the model is fen; what was typed stays as typed.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(fen_to_yuan(value))
        return value

    def to_python(self, value) -> int | None:
        text = "" if value in self.empty_values else str(value)
        if not text.strip(" \t"):
            return None
        return parse_amount(text, max_fen=self.max_fen, min_fen=self.min_fen)

    def clean(self, value) -> int | None:
        fen = self.to_python(value)
        if fen is None and self.required:
            raise ValidationError(self.error_messages["required"], code="required")
        return fen


# The API's one money format (docs/adr/0013): yuan as a string with exactly
# two decimals, "1234.50", in requests and responses alike.
YUAN_PATTERN = r"^-?[0-9]{1,15}\.[0-9]{2}$"
YUAN_SCHEMA = {
    "type": "string",
    "pattern": YUAN_PATTERN,
    "example": "1234.50",
    "description": "yuan, a string with exactly two decimals",
}


def yuan_text(fen: int) -> str:
    """Integer fen -> the API's money text: ``123450`` -> ``"1234.50"``."""
    return f"{fen_to_yuan(fen):.2f}"


@extend_schema_field(YUAN_SCHEMA)
class AmountApiField(serializers.Field):
    """Yuan in a request -> integer fen; out: yuan as a string with two places.

    Clients send the documented format, a string like ``"12.50"``; for
    clients written before it the field still reads ``"12.5"``, ``"12"`` and a
    JSON number ``12.5`` (``portal.money.parse_amount``), never a float."""

    def __init__(self, *, max_fen: int, min_fen: int = 0, allow_blank: bool = False, **kwargs):
        self.max_fen = max_fen
        self.min_fen = min_fen
        self.allow_blank = allow_blank
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if self.allow_blank and isinstance(data, str) and not data.strip(" \t"):
            return None
        try:
            return parse_amount(data, max_fen=self.max_fen, min_fen=self.min_fen)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.code) from None

    def to_representation(self, value):
        return yuan_text(value)


@extend_schema_field(YUAN_SCHEMA)
class YuanField(serializers.Field):
    """An amount in a response (output serializers only): integer fen ->
    ``"1234.50"``. Not marked read-only, so ``required=False`` documents an
    amount that is sometimes absent."""

    def to_internal_value(self, data):
        raise NotImplementedError("YuanField is for responses; requests use AmountApiField")

    def to_representation(self, value):
        return yuan_text(value)


class InvalidFormIs400:
    """For a ``ModelAdmin``: a refused add or change form answers 400 (with
    the form and its field errors, as usual) instead of Django's 200, so every
    refused amount, in the admin too, is a 4xx."""

    def changeform_view(self, request, *args, **kwargs):
        response = super().changeform_view(request, *args, **kwargs)
        context = getattr(response, "context_data", None) or {}
        if request.method == "POST" and context.get("errors"):
            response.status_code = 400
        return response
