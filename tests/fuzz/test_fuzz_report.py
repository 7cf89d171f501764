"""The fuzzing summary (``tests.support.fuzz_report``) reports the same counts whether pytest
runs in one process or in xdist workers: a real pytest run of a small fuzz suite, both ways."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SUITE = """
from hypothesis import given, settings, strategies as st

from tests.support.fuzz_report import COUNTS


@settings(max_examples=30, database=None)
@given(st.integers())
def test_first(n):
    COUNTS.request("svc", "GET /a", "2xx")


@settings(max_examples=12, database=None)
@given(st.text())
def test_second(text):
    COUNTS.request("svc", "POST /b", "4xx")


def test_plain():
    COUNTS.request("other", "GET /c", "401/403")
"""

EXPECTED = [
    "HTTP fuzzing: requests sent per target",
    "other: 1 requests over 1 operations (401/403 1)",
    "svc: 42 requests over 2 operations (2xx 30, 4xx 12)",
    "total: 43 requests",
    "Hypothesis fuzzing: examples run per module",
    "test_suite.py: 42 examples in 2 Hypothesis runs",
    "total: 42 examples",
]


@pytest.mark.parametrize("workers", [None, 2])
def test_summary_with_and_without_xdist(tmp_path: Path, workers: int | None) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # Only the plugins the summary involves (the others would only slow the run down).
    plugins = ["_hypothesis_pytestplugin", "tests.support.fuzz_report"]
    if workers is not None:
        plugins.append("xdist.plugin")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    command += [arg for plugin in plugins for arg in ("-p", plugin)]
    if workers is not None:
        command += ["-n", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line.strip("= ") for line in run.stdout.splitlines()]
    missing = [line for line in EXPECTED if line not in lines]
    assert not missing, run.stdout
