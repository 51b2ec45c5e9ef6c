from django import template

from members.regions import region_name as _region_name

register = template.Library()


@register.filter
def region_name(code: str) -> str:
    """``{{ person.insured_region|region_name }}`` -> ``北京市朝阳区``."""
    return _region_name(code)
