"""Backups of a running coordinator (``coordinator serve`` on the devnet stack): start-up
restore, a dead replicator seen by readiness and metrics and restarted, metrics scraped."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator_core.ids import uuid7
from coordinator_core.oracle_api import rfc3339
from tests.backup.conftest import S3, backup_overrides
from tests.conftest import free_port
from tests.support.stack import DevnetStack, StackOptions, running_stack

pytestmark = pytest.mark.slow


def backup_env(s3: S3, root: Path, bucket: str) -> dict[str, str]:
    overrides = backup_overrides(s3, root, bucket)
    env = {f"COORDINATOR__BACKUP__{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
           for k, v in overrides.items()}  # fmt: skip
    env["COORDINATOR__METRICS__ENABLED"] = "true"
    env["COORDINATOR__METRICS__PORT"] = str(free_port())
    env["COORDINATOR__METRICS__REFRESH_SECS"] = "0"
    return env


@pytest.fixture(scope="module")
def stack(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetStack]:
    root = tmp_path_factory.mktemp("backup-stack")
    options = StackOptions(coordinator_settings=backup_env(s3, root, s3.create_bucket()))
    with running_stack(root, options) as started:
        yield started


def metrics_url(stack: DevnetStack) -> str:
    return f"http://127.0.0.1:{stack.coordinator.env['COORDINATOR__METRICS__PORT']}/metrics"


def scrape(stack: DevnetStack) -> dict[str, float]:
    """``name{labels}`` -> value of every sample the metrics listener serves."""
    text = httpx.get(metrics_url(stack), timeout=10).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def replicator_pids(coordinator_pid: int) -> list[int]:
    """Children of the coordinator process that run ``litestream replicate``."""
    pids = []
    for task in Path(f"/proc/{coordinator_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            argv = cmdline.split(b"\0")
            if argv[0].endswith(b"litestream") and argv[1:2] == [b"replicate"]:
                pids.append(int(child))
    return pids


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(check: Any, within: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {within:.0f}s")


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10)


def test_dead_replicator_is_reported_and_restarted(stack: DevnetStack) -> None:
    """Killing Litestream: readiness (503) and the metrics report it, liveness and health stay
    up (no restart loop), and the coordinator restarts it."""
    url = stack.coordinator.url
    wait_for(lambda: get(f"{url}/api/v1/ready").status_code == 200, 60, "ready")
    assert scrape(stack)["coordinator_backup_replicator_up"] == 1
    assert stack.coordinator.process is not None
    coordinator_pid = stack.coordinator.process.pid
    [first] = wait_for(lambda: replicator_pids(coordinator_pid), 10, "the replicator")
    restarts_before = scrape(stack)["coordinator_backup_replicator_restarts_total"]

    os.kill(first, signal.SIGKILL)
    not_ready = wait_for(
        lambda: (r := get(f"{url}/api/v1/ready")).status_code == 503 and r, 10, "not ready"
    )
    assert "backup replicator is not running" in not_ready.json()["problems"]
    assert get(f"{url}/api/v1/live").status_code == 200
    assert get(f"{url}/api/v1/health_check").status_code == 200

    [second] = wait_for(
        lambda: [p for p in replicator_pids(coordinator_pid) if p != first], 30, "a new replicator"
    )
    wait_for(lambda: get(f"{url}/api/v1/ready").status_code == 200, 30, "ready again")
    samples = scrape(stack)
    assert samples["coordinator_backup_replicator_up"] == 1
    assert samples["coordinator_backup_replicator_restarts_total"] == restarts_before + 1
    assert second != first


def dump(db_file: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every application table (Litestream's and yoyo's own excluded)."""
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith(("_litestream", "_yoyo", "yoyo", "sqlite_"))
        ]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def competition_terms() -> dict[str, Any]:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    end = start + dt.timedelta(hours=1)
    return {
        "id": str(uuid7()),
        "signing_date": rfc3339(end + dt.timedelta(minutes=5)),
        "start_observation_date": rfc3339(start),
        "end_observation_date": rfc3339(end),
        "locations": ["KORD"],
        "number_of_values_per_entry": 3,
        "number_of_places_win": 1,
        "total_allowed_entries": 2,
        "entry_fee": 10_000,
        "coordinator_fee_percentage": 10,
        "total_competition_pool": 20_000,
        "relative_locktime_block_delta": 8,
    }


def test_empty_data_folder_restores_and_serves_the_same_competitions(
    stack: DevnetStack,
) -> None:
    """The machine is lost (SIGKILL of the coordinator and its replicator, data folder gone):
    the next start restores every database from the replica before migrating, then serves
    the same competitions, and every row of every table is back."""
    url = stack.coordinator.url
    data = stack.coordinator.root / "data"
    wait_for(lambda: get(f"{url}/api/v1/ready").status_code == 200, 60, "ready")
    for _ in range(2):
        stack.admin.call("POST", "/api/v1/competitions", competition_terms(), expect=201)
    served = get(f"{url}/api/v1/competitions").json()
    assert len(served) >= 2
    time.sleep(3)  # a few sync intervals (1 s) after the last write
    before = {name: dump(data / f"{name}.db") for name in ("competitions", "users")}
    assert before["competitions"]["coordinator_metadata"], "no identity recorded"

    assert stack.coordinator.process is not None
    replicators = replicator_pids(stack.coordinator.process.pid)
    assert stack.coordinator.kill() == -signal.SIGKILL
    for pid in replicators:  # the whole machine is lost: its replicator too
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(running(p) for p in replicators), 10, "the replicator gone")
    shutil.rmtree(data)
    stack.coordinator.start(timeout=120)
    log = stack.coordinator.log_text().split("===== start")[-1]
    for name in ("competitions", "users", "wallet"):
        assert f"{name} restored from its replica" in log, log[-3000:]
    for name, tables in before.items():
        after = dump(data / f"{name}.db")
        for table, rows in tables.items():
            assert set(rows) <= set(after[table]), f"{name}.{table} lost rows"
    assert get(f"{url}/api/v1/competitions").json() == served
    for competition in served:
        again = get(f"{url}/api/v1/competitions/{competition['id']}").json()
        assert (again["id"], again["state"]) == (competition["id"], competition["state"])
    wait_for(lambda: get(f"{url}/api/v1/ready").status_code == 200, 60, "ready after restore")
