"""Structured (JSON) logs: structlog through django-structlog.

Every line is one JSON object. Request lines carry ``request_id``,
``user_id`` (the primary key, never an identity number), ``route`` (the URL
name and pattern, never the raw path, which may carry personal data) and
``duration_ms``. Whatever reaches a handler passes ``mask_identity_numbers``
last, so an identity number that slips into a message (Django's own "Not
Found: /path" for one) is masked before it is written.
"""

from __future__ import annotations

import re
from typing import Any

import structlog

# Any run of 17 digits and a digit or X, even inside a longer token: masking
# too much is harmless, missing one is not.
ID_NUMBER = re.compile(r"\d{17}[\dXx]")
ID_NUMBER_MASK = "[id-number]"


def mask(value: Any) -> Any:
    if isinstance(value, str):
        return ID_NUMBER.sub(ID_NUMBER_MASK, value)
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask(v) for v in value)
    return value


def mask_identity_numbers(logger, method_name, event_dict):
    return {key: mask(value) for key, value in event_dict.items()}


_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.ExtraAdder(),
]


def logging_config(*, level: str, fmt: str) -> dict:
    """The LOGGING dict for settings; ``fmt`` is ``json`` or ``console``."""
    renderer = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    mask_identity_numbers,
                    renderer,
                ],
                "foreign_pre_chain": _SHARED,
            }
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structured"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            # django_structlog's request_finished already logs every 4xx with
            # its route; Django's own line would repeat it with the raw path.
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "ERROR"},
        },
    }


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
