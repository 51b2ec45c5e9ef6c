"""The one application-error type.

Services raise ``ApplicationError`` for a refusal the user can act on; the API
exception handler and the HTML views turn it into a clear message. ``fields``
names the offending input (``{"id_number": ["..."]}``), ``code`` is stable and
machine-readable.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _


class ApplicationError(Exception):
    status_code = 400

    def __init__(
        self,
        message: str | Promise,
        *,
        code: str = "invalid",
        fields: dict[str, list[Any]] | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = str(message)
        self.code = code
        self.fields = fields or {}
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class Conflict(ApplicationError):
    """The request conflicts with what is stored (e.g. an idempotency key reused)."""

    status_code = 409


class Busy(ApplicationError):
    """The database gave up on the request to break a deadlock or a
    serialization conflict, even after retrying: nothing was written and the
    same request may be sent again (docs/adr/0001)."""

    status_code = 503

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or _("The service is busy. Nothing was changed: please send the request again."),
            code="busy",
        )
