"""Files only their owner may read (keys, macaroons), written so a crash never half-writes one."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically and durably.

    The bytes go to a sibling temporary file that is fsynced, then renamed over ``path``, and
    the directory is fsynced so the rename survives a power loss.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class PrivateFileError(ValueError):
    """A private file is missing, readable by others, or too large."""


def read_private(path: Path, limit: int) -> bytes:
    """Read a file only its owner may access; refuse group/other permissions or a huge file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PrivateFileError(f"file not found: {path}") from None
    if mode & 0o077:
        raise PrivateFileError(
            f"{path} is accessible to others (mode {oct(mode & 0o777)}); chmod 600 it"
        )
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise PrivateFileError(f"{path} is larger than {limit} bytes")
    return data
