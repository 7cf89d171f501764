"""``coordinator synth run`` completes a whole lifecycle on the devnet and reports each step's
time; right after it, the coordinator's metrics listener is scraped and every metric has the
value the run implies; the monitor's own metrics and status page show the run. On the same
stack (replicated by Litestream), a point-in-time restore to before a payout pays nobody
twice."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator.adapters.backup.litestream import LitestreamReplicas
from coordinator.config import load_settings
from coordinator.synth.monitor import create_monitor_app
from coordinator.synth.scenario import Devnet, FullLifecycle, SynthConfig
from coordinator.synth.store import SynthStore
from tests.backup.conftest import S3, s3  # noqa: F401 - the S3 server fixture
from tests.backup.test_serve import (
    backup_env,
    metrics_url,
    replicator_pids,
    running,
    scrape,
    wait_for,
)
from tests.support.stack import (
    COORDINATOR_NODE,
    E2E_CONFIG,
    DevnetStack,
    StackOptions,
    running_stack,
)

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
STEPS = [
    "fund_coordinator", "create_competition", "player_0_enter_and_pay", "player_1_enter_and_pay",
    "reach_signing_complete", "reach_funding_broadcasted", "reach_funding_confirmed",
    "reach_awaiting_attestation", "attest", "payouts", "reach_completed",
]  # fmt: skip


@pytest.fixture(scope="module")
def stack(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetStack]:  # noqa: F811
    root = tmp_path_factory.mktemp("synth-stack")
    options = StackOptions(coordinator_settings=backup_env(s3, root, s3.create_bucket()))
    with running_stack(root, options) as started:
        yield started


def synth_argv(stack: DevnetStack, db_path: Path) -> list[str]:
    argv = [
        sys.executable, "-m", "coordinator", "synth",
        "--url", stack.coordinator.url,
        "--admin-url", str(stack.coordinator.admin_url),
        "--admin-token-file", str(stack.admin_token_file),
        "--db-path", str(db_path),
        "--devnet-chain-url", stack.chain.url,
        "--devnet-lightning-url", stack.lightning_url,
        "--devnet-oracle-url", stack.oracle.url,
        "--devnet-token", stack.token,
        "--from-config", str(E2E_CONFIG),  # the enclave pins; the flags win
        "--attestation-root", str(stack.signer_root),
        "--state-timeout", "240",
    ]  # fmt: skip
    return [*argv, "run", "--json"]


async def test_synth_runs_a_full_lifecycle_and_the_metrics_follow(
    stack: DevnetStack, tmp_path: Path
) -> None:
    db_path = tmp_path / "synth.db"
    before = scrape(stack)
    done = subprocess.run(  # noqa: ASYNC221 - the CLI is the thing under test
        synth_argv(stack, db_path), cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-4000:] + stack.coordinator.log_tail()
    result = json.loads(done.stdout)
    assert result["passed"] and result["error"] is None
    assert [s["step"] for s in result["steps"]] == STEPS
    assert all(s["seconds"] > 0 for s in result["steps"])
    print("synth steps:", {s["step"]: s["seconds"] for s in result["steps"]})

    # The coordinator's metrics right after the run.
    after = scrape(stack)
    assert after['coordinator_competitions{state="completed"}'] == 1
    assert sum(v for k, v in after.items() if k.startswith("coordinator_competitions{")) == 1
    assert after['coordinator_payouts{status="succeeded"}'] == 1
    assert after['coordinator_payouts{status="pending"}'] == 0
    assert after['coordinator_payouts_total{status="succeeded"}'] == 1
    assert after["coordinator_processor_tick_seconds_count"] > before.get(
        "coordinator_processor_tick_seconds_count", 0
    )
    for service in ("chain", "lightning", "oracle", "signer"):
        key = f'coordinator_external_call_seconds_count{{service="{service}"}}'
        assert after[key] > before.get(key, 0), service
    errors = [k for k in after if k.startswith("coordinator_external_call_errors_total{")]
    assert all(after[k] == before.get(k, 0) for k in errors), {k: after[k] for k in errors}
    for database in ("competitions", "users"):
        assert after[f'coordinator_db_write_queue_depth{{database="{database}"}}'] == 0
    assert after["coordinator_backup_replicator_up"] == 1
    for database in ("competitions", "users", "wallet"):
        assert after[f'coordinator_backup_lag_seconds{{database="{database}"}}'] < 30
    assert metrics_url(stack).endswith("/metrics")

    # The monitor's own record, metrics and status page.
    store = SynthStore(db_path)
    try:
        [run] = store.runs()
        assert run["status"] == "passed" and run["competition_id"] == result["competition"]
        assert [s.name for s in store.steps(run["id"])] == STEPS
        app = create_monitor_app(store, lambda: None)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://synth") as http:
            metrics = (await http.get("/metrics")).text
            page = (await http.get("/")).text
            status = (await http.get("/api/status")).json()
    finally:
        store.close()
    assert 'synth_scenario_runs_total{scenario="full_lifecycle",status="passed"} 1.0' in metrics
    assert "synth_competition_lifecycle_healthy 1.0" in metrics
    assert 'synth_step_duration_seconds{step="payouts"}' in metrics
    assert "reach_completed" in page and result["competition"] in page
    assert status["last_result"]["status"] == "passed"


def synth_config(stack: DevnetStack) -> SynthConfig:
    pins = load_settings(E2E_CONFIG, env={}).keymeld.pcr_pins
    return SynthConfig(
        coordinator_url=stack.coordinator.url,
        admin_url=str(stack.coordinator.admin_url),
        admin_token=stack.admin_token,
        devnet=Devnet(stack.chain.url, stack.lightning_url, stack.oracle.url, stack.token),
        pcr_pins={str(k): v for k, v in pins.items()},
        attestation_root=stack.signer_root,
        state_timeout_secs=120,
    )


async def coordinator_node_msat(stack: DevnetStack) -> int:
    async with stack.lightning_control() as control:
        return (await control.node(COORDINATOR_NODE)).balance_msat


async def set_coordinator_node_online(stack: DevnetStack, online: bool) -> None:
    async with stack.lightning_control() as control:
        await control.set_online(COORDINATOR_NODE, online)


async def wait_state(
    public: httpx.AsyncClient, lifecycle: FullLifecycle, state: str, run: asyncio.Task[Any]
) -> str:
    """The competition the lifecycle created, once it is in ``state``."""
    while True:
        assert not run.done(), run.result()
        if lifecycle.competition_id is not None:
            answer = await public.get(f"/api/v1/competitions/{lifecycle.competition_id}")
            if answer.json()["state"] == state:
                return lifecycle.competition_id
        await asyncio.sleep(0.1)


def operator_command(stack: DevnetStack, *args: str) -> subprocess.CompletedProcess[str]:
    """``coordinator ARGS`` with the stack coordinator's configuration, as its operator."""
    coordinator = stack.coordinator
    argv = [sys.executable, "-m", "coordinator", "--config", str(E2E_CONFIG), *args]
    env = dict(os.environ, **coordinator.env)
    return subprocess.run(
        argv, cwd=coordinator.root, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def lightning_errors(samples: dict[str, float]) -> float:
    return sum(
        v
        for k, v in samples.items()
        if k.startswith("coordinator_external_call_errors_total{") and 'service="lightning"' in k
    )


def succeed_at(db_file: Path, payment_hash: str) -> list[str | None]:
    """``succeed_at`` of every payout of ``payment_hash`` in a competitions database."""
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        query = "SELECT succeed_at FROM payouts WHERE payment_hash = ?"
        return [row[0] for row in conn.execute(query, (payment_hash,))]
    finally:
        conn.close()


async def test_point_in_time_restore_to_before_the_payout_pays_nobody_twice(
    stack: DevnetStack, tmp_path: Path
) -> None:
    """The winner's payout is recorded while the coordinator's Lightning node is unreachable,
    then sent and recorded as paid, and Litestream replicates all of it. The operator stops
    the coordinator and restores every database to an instant before the payment
    (``coordinator backup restore --timestamp``): the restored payout is still pending. The
    restarted coordinator finds the payment on its node and records it and never sends it
    again; replication carries on from the restored state."""
    coordinator = stack.coordinator
    data = coordinator.root / "data"
    public = httpx.AsyncClient(base_url=coordinator.url, timeout=10)
    store = SynthStore(tmp_path / "synth.db")
    lifecycle = FullLifecycle(synth_config(stack), store)
    run = asyncio.create_task(lifecycle.run())
    try:
        competition_id = await wait_state(public, lifecycle, "outcome_broadcasted", run)
        errors_before = lightning_errors(scrape(stack))
        await set_coordinator_node_online(stack, False)
        path = f"/api/v1/admin/competitions/{competition_id}"

        def payouts() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = stack.admin.call("GET", path)["payouts"]
            return found

        await asyncio.to_thread(wait_for, payouts, 120, "a payout recorded")
        await asyncio.sleep(3)  # several sync intervals: the pending payout is replicated
        before_payment = dt.datetime.now(dt.UTC)
        await asyncio.sleep(1)
        await set_coordinator_node_online(stack, True)
        [paid] = await asyncio.to_thread(
            wait_for, lambda: [p for p in payouts() if p["status"] == "succeeded"], 120, "paid"
        )
    finally:
        run.cancel()  # no more blocks from the scenario: the rest is the coordinator's
        with contextlib.suppress(BaseException):
            await run
        store.close()
        await public.aclose()
    await asyncio.sleep(3)  # the payout's success is replicated too
    assert lightning_errors(scrape(stack)) > errors_before, "the node's absence is unseen"
    paid_once_msat = await coordinator_node_msat(stack)
    assert coordinator.process is not None
    replicators = replicator_pids(coordinator.process.pid)
    assert coordinator.stop() == 0, coordinator.log_tail()
    await asyncio.to_thread(
        wait_for, lambda: not any(running(p) for p in replicators), 30, "the replicator gone"
    )

    stamp = before_payment.isoformat().replace("+00:00", "Z")
    restore = operator_command(stack, "backup", "restore", "--timestamp", stamp)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    for name in ("competitions", "users", "wallet"):
        assert f"{name}: restored to" in restore.stdout, restore.stdout
    payment_hash = paid["payment_hash"]
    assert succeed_at(data / "competitions.db", payment_hash) == [None], "not older than paid"

    coordinator.start(timeout=120)
    [again] = await asyncio.to_thread(
        wait_for, lambda: [p for p in payouts() if p["status"] == "succeeded"], 60, "recorded"
    )
    assert len(payouts()) == 1 and again["payout_id"] == paid["payout_id"]
    assert "had succeeded" in coordinator.log_text().split("=====")[-1]
    await asyncio.sleep(5)  # a payout sender would have sent again by now
    assert await coordinator_node_msat(stack) == paid_once_msat

    # Replication carries on from the restored state: the replica's latest is that history
    # with the payment recorded, not the one the restore went back from.
    await asyncio.sleep(3)
    latest = tmp_path / "latest.db"
    settings = load_settings(E2E_CONFIG, env=coordinator.env)
    assert await asyncio.to_thread(
        LitestreamReplicas(settings).restore, "competitions", output=latest
    )
    [replicated] = succeed_at(latest, payment_hash)
    assert replicated is not None

    # ``backup status``: every database replicated, the restored instant still in the window.
    shown = operator_command(stack, "backup", "status", "--json")
    assert shown.returncode == 0, shown.stderr
    report = {item["database"]: item for item in json.loads(shown.stdout)}
    assert set(report) == {"competitions", "users", "wallet"}
    for name, item in report.items():
        assert item["exists"] and item["levels"], name
        assert item["replica_txid"] is not None and item["lag_secs"] < 30, item
        oldest = dt.datetime.fromisoformat(item["restorable_from"].replace("Z", "+00:00"))
        assert oldest <= before_payment, item
