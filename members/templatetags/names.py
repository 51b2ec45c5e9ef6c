from django import template

from members.idnumber import mask_name

register = template.Library()


@register.filter(name="mask_name")
def mask_name_filter(value) -> str:
    return mask_name(str(value or ""))
