"""One error shape for every API error.

Every error response body is::

    {"error": {"code": "<machine code>", "message": "<human text>",
               "fields": {"<field>": ["<why>", ...]}}}

``fields`` is empty when the error is not about particular input fields.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ApplicationError, Busy
from .transactions import is_conflict


def error_body(code: str, message: str, fields: dict[str, Any] | None = None, **extra: Any):
    body: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    body.update(extra)
    return {"error": body}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) if isinstance(v, dict | list) else str(v) for v in detail]
    return [str(detail)]


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, OperationalError) and is_conflict(exc):
        # A deadlock or serialization failure no service retried: nothing
        # was written, the client may send the request again.
        exc = Busy()
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.code, exc.message, exc.fields, **exc.extra), status=exc.status_code
        )
    if isinstance(exc, RequestDataTooBig):
        # Django's own limits on a form or multipart body (DATA_UPLOAD_MAX_*).
        return Response(
            error_body("request_too_large", _("The request body is too large.")), status=413
        )
    if isinstance(exc, SuspiciousOperation):
        # Too many fields or files, a malformed multipart body: the client's fault.
        return Response(error_body("bad_request", _("The request is malformed.")), status=400)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {}
        message = "; ".join(exc.messages)
        exc = exceptions.ValidationError(detail=fields or exc.messages)
        return Response(error_body("invalid", message, _flatten(fields)), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail) if isinstance(exc.detail, dict) else {}
        non_field = exc.detail if isinstance(exc.detail, list) else fields.get("non_field_errors")
        message = (
            "; ".join(str(m) for m in non_field)
            if non_field
            else _("Some fields are invalid: %(fields)s") % {"fields": ", ".join(fields)}
        )
        response.data = error_body("invalid", message, fields)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(str(code), str(detail))
    return response


def server_error_response() -> Response:
    return Response(
        error_body("server_error", _("An unexpected error occurred.")),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
