from django.utils.functional import SimpleLazyObject

from .viewer import viewer_for


def viewer(request) -> dict:
    """``viewer`` in every template: what the page may show (staff links,
    full identity numbers) is asked of the access layer, not of ``user``."""
    return {"viewer": SimpleLazyObject(lambda: viewer_for(request))}
