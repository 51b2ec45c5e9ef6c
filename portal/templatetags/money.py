from django import template

from portal.money import format_yuan

register = template.Library()


@register.filter
def yuan(fen):
    """``{{ amount_fen|yuan }}`` -> ``1,234.56``."""
    return format_yuan(fen)


@register.filter
def percent(rate):
    """``Decimal("0.0980")`` -> ``9.8%`` (a rate as people write it)."""
    if rate is None:
        return ""
    value = (rate * 100).normalize()
    return f"{value:f}%"
