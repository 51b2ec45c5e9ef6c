"""The 400, 403, 404 and 500 answers (``handler400`` ... in portal/urls.py).

API paths answer in the one error shape (portal/api.py); pages answer in the
portal's layout, in the visitor's language, with a way on. The 500 page uses a
layout of its own that needs no database, session or signed-in user: it must
render when those are what failed.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _

from .api import error_body


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("bad_request", _("The request is not valid.")), status=400)
    return render(request, "errors/400.html", status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", _("You may not do this.")), status=403)
    return render(request, "errors/403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # A URL that no API route matches (a negative id, say) still answers JSON.
    if _is_api(request):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", _("An unexpected error occurred.")), status=500
        )
    # No request context: no context processor may touch what just failed.
    return HttpResponse(loader.get_template("errors/500.html").render(), status=500)
