from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils.csp import CSP
from django.views.decorators.cache import never_cache
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularSwaggerSplitView

logger = logging.getLogger(__name__)


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any failure means "not ok"
        logger.exception("healthz: the database does not answer")
        return "failed"
    return None


def _check_broker() -> str | None:
    if not settings.CELERY_BROKER_URL:
        return None  # in-process tasks: nothing to reach
    from portal.celery import app

    try:
        with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        logger.exception("healthz: the broker does not answer")
        return "failed"
    return None


@never_cache
@require_GET
def healthz(request):
    """200 when the database and the broker answer, 503 naming the broken part.

    Public (load balancers probe it), so the body says only ok or error per
    part: error texts name hosts, ports and database names, so they go to the
    log (``portal.views`` logger, with the exception), never to the body."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    body = {
        "status": "ok" if not any(checks.values()) else "error",
        "database": "ok" if checks["database"] is None else "error",
        "broker": (
            ("ok" if checks["broker"] is None else "error")
            if settings.CELERY_BROKER_URL
            else "in-process"
        ),
    }
    broken = [name for name, problem in checks.items() if problem]
    if broken:
        body["broken"] = broken
        return JsonResponse(body, status=503)
    return JsonResponse(body)


# Swagger UI (served locally from drf-spectacular-sidecar) sets inline style
# attributes and data: images, so its one page gets a slightly relaxed policy:
# still no inline or foreign script (its start-up script is a separate file).
api_docs = csp_override(
    {
        **settings.SECURE_CSP,
        "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
        "img-src": [CSP.SELF, "data:"],
    }
)(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
