"""The devnet stack harness: every service up, the coordinator killed and restarted on its data."""

from __future__ import annotations

import httpx

from tests.support.stack import DevnetStack


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
