"""Error reports to Sentry, only when SENTRY_DSN is set, with personal data
scrubbed before anything leaves the machine.

``send_default_pii=False`` keeps the SDK from attaching the user's address,
cookies and request bodies; ``scrub_event`` then removes what could still
carry personal data: request bodies, cookies, the Authorization / Cookie /
CSRF headers, local variables, any value under a key that names a person, and
every identity number (18 characters) in any string, query or URL.
"""

from __future__ import annotations

import re
from typing import Any

from .logging import ID_NUMBER, ID_NUMBER_MASK

FILTERED = "[Filtered]"
_SECRET_HEADERS = {"authorization", "cookie", "x-csrftoken", "proxy-authorization", "set-cookie"}
# Keys whose values name or identify a person, anywhere in an event.
_PERSONAL_KEYS = re.compile(
    r"(^|_)(name|names|full_name|first_name|last_name|patient|id_number|"
    r"identity|phone|email|password|token|secret|address|username)($|_)",
    re.IGNORECASE,
)


def _mask(value: Any, key: str | None = None) -> Any:
    if key is not None and _PERSONAL_KEYS.search(str(key)):
        return FILTERED
    if isinstance(value, str):
        return ID_NUMBER.sub(ID_NUMBER_MASK, value)
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry ``before_send``: the event without personal data."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        request.pop("env", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                k: (FILTERED if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()
            }
        if request.get("query_string"):
            request["query_string"] = FILTERED
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    for crumb in values or []:
        if isinstance(crumb, dict) and crumb.get("category") == "query":
            crumb.pop("data", None)  # SQL parameters: names, amounts
    return _mask(event)


def init_sentry(*, dsn: str, environment: str, release: str | None, traces_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=traces_rate,
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )
