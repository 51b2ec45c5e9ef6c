from django import template

from portal.money import format_yuan

register = template.Library()


@register.filter
def yuan(fen):
    """``{{ amount_fen|yuan }}`` -> ``1,234.56``."""
    return format_yuan(fen)
