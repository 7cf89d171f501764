"""The devnet stack harness: every service up, the coordinator killed and restarted on its data."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import httpx

from tests.support.stack import REPO_ROOT, DevnetStack


async def test_stack_runs_and_survives_a_sigkill(devnet_stack: DevnetStack) -> None:
    stack = devnet_stack
    info = stack.describe()
    health = {
        info["coordinator_url"] + "/api/v1/health_check",
        info["chain_url"] + "/health",
        info["lightning_url"] + "/health",
        info["oracle_url"] + "/health",
    }
    async with httpx.AsyncClient() as http:
        for url in health:
            assert (await http.get(url)).status_code == 200, url
        height = stack.chain.tip_height()
        stack.mine(2)
        assert stack.chain.tip_height() == height + 2
        alice = await stack.new_player("alice", 50_000)
        assert (await alice.lightning.get_info()).network == "regtest"
        assert stack.coordinator.kill() == -9
        stack.coordinator.start()
        response = await http.get(stack.coordinator.url + "/api/v1/health_check")
        assert response.status_code == 200
        assert stack.coordinator.starts == 2


async def test_stack_as_a_program_for_other_tools(tmp_path: Path) -> None:
    """``python -m tests.support.stack`` prints its URLs as one JSON line and stops on SIGTERM
    (what the web UI's browser tests and a synthetic monitor use)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.stack", "--root", str(tmp_path / "stack"),
        stdout=asyncio.subprocess.PIPE, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=180)
        info = json.loads(line)
        await asyncio.to_thread(check_token_file, Path(info["admin_token_file"]))
        async with httpx.AsyncClient() as http:
            response = await http.get(info["coordinator_url"] + "/api/v1/health_check")
            assert response.status_code == 200
            for key in ("chain_url", "lightning_url", "oracle_url"):
                assert (await http.get(info[key] + "/health")).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=60) == 0


def check_token_file(path: Path) -> None:
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_text().strip()) >= 32
