"""The API's JSON parser: bounded in size and in nesting depth (docs/adr/0007).

Python's ``json`` recurses once per nesting level and raises ``RecursionError``
near 1,000 levels, which would surface as a 500; a document nested deeper than
any request of ours needs is refused with a 400 before it is parsed. The body
is read up to ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes (Django applies that limit
to forms but not to a body DRF reads itself): more is a 413.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.utils.json import strict_constant

MAX_JSON_DEPTH = 64

# A JSON string (with its escapes): brackets inside one do not nest anything.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_SQUARE = str.maketrans("{}", "[]")


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = _("The request body is too large.")


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` nests arrays or objects more than ``limit`` deep.

    No recursion and no per-character Python loop: strings are cut out, every
    other character but brackets dropped, then each pass removes the innermost
    ``[]`` pairs (one level per pass, ``str.replace`` being non-overlapping),
    at most ``limit + 1`` passes. Unbalanced brackets stop the count; the JSON
    parser refuses such a document anyway.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text)).translate(_SQUARE)
    for _level in range(limit):
        reduced = brackets.replace("[]", "")
        if len(reduced) == len(brackets):
            return False  # unbalanced: not JSON
        brackets = reduced
        if not brackets:
            return False
    return True


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a size and a nesting limit; set for the whole API
    in ``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``."""

    max_depth = MAX_JSON_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(
                _("The request body is larger than %(limit)d bytes.") % {"limit": limit}
            )
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(
                _("The request body is not valid %(encoding)s.") % {"encoding": encoding}
            ) from None
        if json_depth_exceeds(text, self.max_depth):
            raise ParseError(
                _("The JSON is nested more than %(limit)d levels deep.") % {"limit": self.max_depth}
            )
        parse_constant = strict_constant if self.strict else None  # no NaN, Infinity
        try:
            return json.loads(text, parse_constant=parse_constant)
        except RecursionError:
            raise ParseError(
                _("The JSON is nested more than %(limit)d levels deep.") % {"limit": self.max_depth}
            ) from None
        except ValueError as exc:
            raise ParseError(
                _("The request body is not valid JSON: %(error)s") % {"error": exc}
            ) from None
