"""Mapping of errors to HTTP responses.

Domain errors: ``{"error": "<message>"}`` with a fitting status. Authentication errors:
``{"error": {"type": "<code>", "detail": "<text>"}}`` with their own status and headers.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from coordinator_core.errors import (
    AuthError,
    ConflictError,
    CoordinatorError,
    ForbiddenError,
    NotFoundError,
    TransientError,
    ValidationError,
)

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[CoordinatorError], int]] = [
    (ValidationError, 400),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (TransientError, 503),
]


def status_for(exc: CoordinatorError) -> int:
    """HTTP status for a domain error; unknown kinds are server errors."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers so that every error response has the same JSON shape."""

    @app.exception_handler(CoordinatorError)
    async def _domain_error(_: Request, exc: CoordinatorError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("request failed: %s", exc.message)
            return JSONResponse({"error": "internal server error"}, status_code=status)
        return JSONResponse({"error": exc.message}, status_code=status)

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        body = {"error": {"type": exc.code, "detail": exc.detail}}
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Framework refusals (unparsable body, unknown route, wrong method) in the same shape.
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _bad_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"] if part != "body")
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return JSONResponse({"error": message}, status_code=400)
