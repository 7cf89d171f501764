"""Error hierarchy shared across layers.

Domain and adapter code raise these; the HTTP layer maps them to status codes, the CLI to exit
codes. Each error carries a short machine-readable ``code`` and a human-readable message.
"""

from __future__ import annotations


class CoordinatorError(Exception):
    """Base class of every error this system raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(CoordinatorError):
    """Input (HTTP body, file, remote response) failed validation."""

    code = "bad_request"


class NotFoundError(CoordinatorError):
    """The requested object does not exist."""

    code = "not_found"


class ForbiddenError(CoordinatorError):
    """The caller is authenticated but the object is not theirs."""

    code = "forbidden"


class ConflictError(CoordinatorError):
    """The request conflicts with the current state (already done, wrong state)."""

    code = "conflict"


class TransientError(CoordinatorError):
    """A remote system failed in a way that is expected to pass; retrying later is correct."""

    code = "transient"


class PermanentError(CoordinatorError):
    """A remote system rejected the request; retrying the same request will not help."""

    code = "permanent"


class ConfigError(CoordinatorError):
    """Configuration is missing, malformed or not allowed in the selected profile."""

    code = "config_error"


class AuthError(Exception):
    """A request is not authenticated or not allowed.

    Rendered as ``{"error": {"type": code, "detail": detail}}`` with ``status`` (and any
    ``headers``, e.g. ``Retry-After`` or ``WWW-Authenticate``). Not a :class:`CoordinatorError`:
    it never means the system itself failed.
    """

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
