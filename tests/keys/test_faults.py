"""Crash points end the process only when requested."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = "from coordinator_core.faults import crash_point; crash_point('x'); print('alive')"


def _run(points: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FORECAST_CRASH_POINTS=points)
    return subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=False
    )


def test_requested_point_kills_the_process() -> None:
    result = _run("y, x")
    assert result.returncode == 137
    assert "alive" not in result.stdout
    assert "crash point x reached" in result.stderr


def test_other_points_do_nothing() -> None:
    result = _run("y")
    assert result.returncode == 0
    assert result.stdout.strip() == "alive"
