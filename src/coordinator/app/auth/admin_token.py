"""The operator's bearer token: a 0600 file, and the MACs derived from it.

``key = BLAKE2b-256(DOMAIN ‖ token)``; every derived value is ``MAC(key, purpose ‖ 0 ‖ msg)``
(keyed BLAKE2b-256), compared in constant time. Session cookies and CSRF tokens are such MACs,
so rotating the token (and restarting) revokes every session.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from coordinator_core.errors import ConfigError

MIN_TOKEN_CHARS = 32
MAX_TOKEN_BYTES = 4096
_DOMAIN = b"forecast-coordinator/admin-token/v1\x00"


def _mac(key: bytes, purpose: str, message: bytes) -> bytes:
    return hashlib.blake2b(purpose.encode() + b"\x00" + message, key=key, digest_size=32).digest()


class AdminToken:
    """A loaded admin token. Never logged, never part of a response."""

    def __init__(self, token: str) -> None:
        if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_BYTES:
            raise ValueError(f"an admin token has {MIN_TOKEN_CHARS} to {MAX_TOKEN_BYTES} chars")
        self._key = hashlib.blake2b(_DOMAIN + token.encode(), digest_size=32).digest()
        self._check = _mac(self._key, "bearer", token.encode())

    def __repr__(self) -> str:
        return "AdminToken(<redacted>)"

    def matches(self, given: str) -> bool:
        """Constant-time comparison of a presented token with this one."""
        return hmac.compare_digest(_mac(self._key, "bearer", given.encode()), self._check)

    def tag(self, purpose: str, message: str) -> str:
        """Hex MAC of ``message`` for ``purpose`` (e.g. ``session``, ``csrf``)."""
        return _mac(self._key, purpose, message.encode()).hex()

    def check_tag(self, purpose: str, message: str, tag: str) -> bool:
        return hmac.compare_digest(self.tag(purpose, message).encode(), tag.encode())


def load_admin_token(path: Path, *, create_if_missing: bool) -> AdminToken:
    """Read the token file (trimmed), creating a random one when allowed and missing.

    Refuses (ConfigError) a missing file when creation is not allowed, a file readable or
    writable by group or others, a file over 4 KiB, and a token under 32 characters.
    """
    if not path.exists():
        if not create_if_missing:
            raise ConfigError(f"admin token file {path} is missing (create a 0600 file)")
        _create_token_file(path)
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"admin token file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise ConfigError(f"admin token file {path} must be readable by its owner only (0600)")
    if info.st_size > MAX_TOKEN_BYTES:
        raise ConfigError(f"admin token file {path} is over {MAX_TOKEN_BYTES} bytes")
    try:
        token = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"admin token file {path} is not UTF-8 text") from None
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"admin token in {path} is shorter than {MIN_TOKEN_CHARS} characters")
    return AdminToken(token)


def _create_token_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
