"""Shared fixtures: the reference vectors and isolated settings for every test."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

# Fixtures other test packages share: ``devnet_chain`` (see tests/support/chain.py); the
# fuzzing summary at the end of a run (tests/support/fuzz_report.py).
pytest_plugins = ["tests.support.chain", "tests.support.stack", "tests.support.fuzz_report"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
VECTORS = SHARED / "vectors"


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """``../shared/vectors`` (read-only reference vectors)."""
    if not VECTORS.is_dir():
        pytest.fail(f"reference vectors not found at {VECTORS}")
    return VECTORS


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tmp_data(tmp_path: Path) -> Path:
    """A fresh data folder for one test."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder
