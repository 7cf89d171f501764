"""Pieces every devnet service shares: command-line options, control-API auth, serving."""

from __future__ import annotations

import argparse
import hmac
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coordinator_core.validation import describe_errors

LOOPBACK = "127.0.0.1"
#: Name of the control routes' security scheme in each service's OpenAPI document.
DEVNET_TOKEN_SCHEME = "devnetToken"  # noqa: S105 (a scheme name, not a secret)


def parse_service_args(
    description: str,
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Parse ``--host --port --data-dir --token`` plus any service-specific options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default=LOOPBACK, choices=[LOOPBACK], help="bind address")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="persistent state")
    parser.add_argument("--token", required=True, help="bearer token of the /devnet control API")
    parser.add_argument("--log-level", default="info")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    return args


#: Declares the control routes' scheme in the OpenAPI document (checking is done below).
_DEVNET_BEARER = HTTPBearer(
    scheme_name=DEVNET_TOKEN_SCHEME,
    description="the devnet token (`[devnet] token`)",
    auto_error=False,
)


def require_devnet_token(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_DEVNET_BEARER)],
) -> None:
    """Dependency of the ``/devnet`` control routes: ``Authorization: Bearer <token>``, with the
    token the app was created with (``app.state.devnet_token``)."""
    expected = f"Bearer {request.app.state.devnet_token}".encode()
    given = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        raise HTTPException(status_code=401, detail="missing or wrong devnet bearer token")


def validation_message(exc: RequestValidationError) -> str:
    """What was wrong with a request, without repeating any of it."""
    return describe_errors(exc.errors())


def serve(
    app: FastAPI, host: str, port: int, log_level: str = "info", **uvicorn_options: Any
) -> None:
    """Run ``app`` with uvicorn until SIGINT/SIGTERM (graceful: lifespan shutdown runs).

    ``uvicorn_options`` go to ``uvicorn.run`` (e.g. ``ssl_certfile``, ``ssl_keyfile``, or
    ``timeout_graceful_shutdown`` for services holding long-lived streams open).
    """
    if host != LOOPBACK:
        raise ValueError("devnet services bind 127.0.0.1 only")
    logging.basicConfig(
        level=log_level.upper(), format="[%(asctime)s %(levelname)s] %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, **uvicorn_options)
