from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from members.selectors import person_for_user


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not ok"
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    if not settings.CELERY_BROKER_URL:
        return None  # in-process tasks: nothing to reach
    from portal.celery import app

    try:
        with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@never_cache
@require_GET
def healthz(request):
    """200 when the database and the broker answer, 503 naming the broken part."""
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
        body["detail"] = {name: checks[name] for name in broken}
        return JsonResponse(body, status=503)
    return JsonResponse(body)


@login_required
def home(request):
    person = person_for_user(request.user)
    return render(request, "home.html", {"person": person})
