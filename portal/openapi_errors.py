"""OpenAPI post-processing: every operation documents the one error shape.

drf-spectacular documents only the success response; the portal answers
refusals with ``{"error": {"code", "message", "fields"}}`` (portal/api.py).
Listing those statuses makes the schema honest, and lets the API fuzzing
test (tests/security/test_api_fuzz.py) check error bodies against it too.
"""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
            },
            "additionalProperties": True,
        }
    },
}

ERROR_STATUSES = {
    "400": "Invalid input; `fields` names each offending field.",
    "401": "Not signed in.",
    "403": "Signed in, but not allowed.",
    "404": "Not found (or not yours to see).",
    "409": "Conflicts with what is stored.",
    "429": "Too many attempts; try again later.",
}


def document_error_responses_on_every_operation(result, generator, request, public):
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS): adds the
    ``Error`` component and, to every operation, the error statuses above."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method.startswith("x-") or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
