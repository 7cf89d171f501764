"""Fixtures for the crypto tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ticketdlc.crypto import musig_core


@pytest.fixture(params=["libsecp256k1-musig", "point-operations"])
def verify_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test once with each partial-signature verification path."""
    previous = musig_core._LIB_FAST_PATH
    musig_core._LIB_FAST_PATH = None if request.param == "libsecp256k1-musig" else False
    try:
        yield str(request.param)
    finally:
        musig_core._LIB_FAST_PATH = previous
