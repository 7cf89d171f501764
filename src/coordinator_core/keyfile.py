"""Secret key files: PEM label ``EC PRIVATE KEY`` whose base64 body is the raw 32-byte secret.

This is the format the 5day4cast coordinator and the noaa-oracle read and write (not SEC1 DER).
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from coordinator_core.errors import ConfigError
from coordinator_core.private_file import write_private

_LABEL = "EC PRIVATE KEY"
_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def encode_secret_pem(secret: bytes) -> str:
    """PEM text for a 32-byte secret key."""
    _check_secret(secret)
    body = base64.b64encode(secret).decode()
    return f"-----BEGIN {_LABEL}-----\n{body}\n-----END {_LABEL}-----\n"


def decode_secret_pem(text: str) -> bytes:
    """Parse PEM text written by :func:`encode_secret_pem`; raises ``ValueError`` if invalid."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if (
        len(lines) < 3
        or lines[0] != f"-----BEGIN {_LABEL}-----"
        or lines[-1] != f"-----END {_LABEL}-----"
    ):
        raise ValueError(f"expected a PEM block labelled {_LABEL!r}")
    try:
        secret = base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError as exc:
        raise ValueError("PEM body is not valid base64") from exc
    _check_secret(secret)
    return secret


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret key at ``path``; if the file is missing, create one (mode 0600).

    The file is written atomically, so a crash never leaves a truncated key behind.
    """
    if path.suffix != ".pem":
        raise ConfigError(f"key file must end in .pem: {path}")
    if path.exists():
        try:
            return decode_secret_pem(path.read_text())
        except ValueError as exc:
            raise ConfigError(f"invalid key file {path}: {exc}") from exc
    secret = _random_secret()
    write_private(path, encode_secret_pem(secret).encode())
    return secret


def _random_secret() -> bytes:
    while True:
        candidate = secrets.token_bytes(32)
        if 0 < int.from_bytes(candidate, "big") < _CURVE_ORDER:
            return candidate


def _check_secret(secret: bytes) -> None:
    if len(secret) != 32:
        raise ValueError(f"secret key must be 32 bytes, got {len(secret)}")
    if not 0 < int.from_bytes(secret, "big") < _CURVE_ORDER:
        raise ValueError("secret key is not a valid secp256k1 scalar")
