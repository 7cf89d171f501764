"""The error answers every route can give, in the OpenAPI document.

Validation failures are answered 400 (not FastAPI's 422); authentication failures 400, 401,
403, 429 or 503 with ``{"error": {"type", "detail"}}``; domain errors
``{"error": "<message>"}``. :func:`document_errors` replaces the generated 422 responses with
these, so clients and schema-driven tests see what the server really answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel


class AuthErrorDetail(BaseModel):
    type: str
    detail: str


class ErrorResponse(BaseModel):
    """``{"error": "<message>"}`` or, for authentication, ``{"error": {"type", "detail"}}``."""

    error: str | AuthErrorDetail


ERROR_STATUSES = {
    "400": "Invalid request or authorization header",
    "401": "Not authenticated",
    "403": "Not allowed",
    "404": "Not found",
    "409": "Conflicts with the current state",
    "429": "Too many attempts (see Retry-After)",
    "503": "Temporarily unavailable",
}
_REF = "#/components/schemas/ErrorResponse"


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` list the error responses of every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorResponse"] = ErrorResponse.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components.update(components["ErrorResponse"].pop("$defs", {}))
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status, description in ERROR_STATUSES.items():
                    responses.setdefault(
                        status,
                        {
                            "description": description,
                            "content": {"application/json": {"schema": {"$ref": _REF}}},
                        },
                    )
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
