from django.http import Http404

from portal.error_pages import page_not_found


class NotVisible(Http404):
    """What the access layer raises for a person, link or document the viewer
    may not see: a 404, as for one that does not exist."""


class RefusalMiddleware:
    """A refusal by the access layer is the portal's translated 404 page even
    with DEBUG on (``make run``), never Django's technical page: a member who
    follows an old link meets the portal, not a debug screen. The API turns
    it into its one error shape itself (DRF handles Http404 first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, NotVisible):
            return page_not_found(request, exception)
        return None
