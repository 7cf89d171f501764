"""Crash points for the crash-recovery tests: the process dies at a named point on request.

A test names points in ``FORECAST_CRASH_POINTS`` (comma-separated, e.g.
``after_broadcast:funding``); :func:`crash_point` then ends the process at once with
``os._exit`` — no cleanup, no flush — exactly like SIGKILL at that instant. The production
profile refuses to start while the variable is set (see :func:`crash_points_requested`).
"""

from __future__ import annotations

import os
import sys
from typing import Final

ENV_VAR: Final = "FORECAST_CRASH_POINTS"
EXIT_CODE: Final = 137  # what a SIGKILLed process reports


def crash_points_requested() -> frozenset[str]:
    """The crash points named in the environment."""
    raw = os.environ.get(ENV_VAR, "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def crash_point(name: str) -> None:
    """Die here if ``name`` was requested; otherwise do nothing."""
    if name in crash_points_requested():
        sys.stderr.write(f"crash point {name} reached: exiting\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
