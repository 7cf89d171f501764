"""Example counts of the fuzz targets: sized for CI, multiplied by ``FUZZ_SCALE`` for deeper
runs (``FUZZ_SCALE=20 .venv/bin/pytest tests/fuzz tests/hostile``)."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def examples(count: int) -> int:
    """``count`` examples, scaled."""
    return max(1, round(count * SCALE))
