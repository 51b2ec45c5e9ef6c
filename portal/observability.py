"""Request ids, request log lines and their route (see portal/logging.py)."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from django_structlog.middlewares.request import RequestMiddleware

from .logging import ID_NUMBER

logger = structlog.getLogger("portal.request")

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming request id is kept only if it is a plain token (a proxy's UUID or
# similar): never free text, and never something shaped like an identity number.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$")


def safe_request_id(value: str | None) -> str | None:
    if value and _SAFE_REQUEST_ID.match(value) and not ID_NUMBER.search(value):
        return value
    return None


def route_of(request) -> str:
    """The URL name and pattern (``dashboard:records dashboard/records/``), or
    ``unresolved`` for a path no URL matched: never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unresolved"
    return f"{match.view_name} {match.route}"


class RequestLogMiddleware(RequestMiddleware):
    """django-structlog's middleware with the portal's rules: a safe request id
    (incoming or new) bound to every line and returned in X-Request-ID; the
    user id; the route instead of the path; the time taken; no address, no
    user agent."""

    async_capable = False

    def __call__(self, request):
        response = super().__call__(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    def prepare(self, request) -> None:
        request.request_id = (
            safe_request_id(request.headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
        )
        request._log_started = time.monotonic()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request.request_id)
        self.bind_user_id(request)

    def handle_response(self, request, response) -> None:
        request._log_duration_ms = round((time.monotonic() - request._log_started) * 1000, 1)
        super().handle_response(request, response)

    @staticmethod
    def format_request(request) -> str:
        return request.method

    @staticmethod
    def extra_finished(sender, request, logger, response, log_kwargs, **kwargs):
        log_kwargs["route"] = route_of(request)
        log_kwargs["duration_ms"] = getattr(request, "_log_duration_ms", None)

    @staticmethod
    def extra_failed(sender, request, logger, exception, log_kwargs, **kwargs):
        log_kwargs["route"] = route_of(request)
        started = getattr(request, "_log_started", None)
        if started is not None:
            log_kwargs["duration_ms"] = round((time.monotonic() - started) * 1000, 1)


def connect_request_log_signals() -> None:
    from django_structlog import signals

    signals.bind_extra_request_finished_metadata.connect(
        RequestLogMiddleware.extra_finished, dispatch_uid="portal-request-finished"
    )
    signals.bind_extra_request_failed_metadata.connect(
        RequestLogMiddleware.extra_failed, dispatch_uid="portal-request-failed"
    )
