"""The one writer of owner-only files (coordinator key, devnet macaroons and TLS keys)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from coordinator_core import private_file
from coordinator_core.keyfile import decode_secret_pem, load_or_create_secret
from coordinator_core.private_file import write_private


def test_writes_owner_only_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "secret.bin"
    write_private(path, b"first")
    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_private(path, b"second")
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret.bin"]


def test_syncs_the_file_and_its_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(private_file.os, "fsync", recording_fsync)
    write_private(tmp_path / "k", b"x")
    assert synced == ["file", "dir"]


def test_failed_write_leaves_old_content_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "k"
    write_private(path, b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(private_file.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_private(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


def test_key_file_is_created_through_the_private_writer(tmp_path: Path) -> None:
    path = tmp_path / "creds" / "coordinator.pem"
    secret = load_or_create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert decode_secret_pem(path.read_text()) == secret
    assert load_or_create_secret(path) == secret
