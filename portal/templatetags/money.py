from django import template

from portal.money import format_money, format_yuan

register = template.Library()


@register.filter
def yuan(fen):
    """``{{ amount_fen|yuan }}`` -> ``¥1,234.56``: every amount on a page."""
    return format_money(fen)


@register.filter
def yuan_number(fen):
    """``{{ amount_fen|yuan_number }}`` -> ``1,234.56``, for a form field's value."""
    return format_yuan(fen)


@register.filter
def percent(rate):
    """``Decimal("0.0980")`` -> ``9.8%`` (a rate as people write it)."""
    if rate is None:
        return ""
    value = (rate * 100).normalize()
    return f"{value:f}%"
