"""`coordinator dev` wiring: the config files point the client at the devnet's coordinator node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from coordinator.adapters.lightning import LndRestClient
from coordinator.config import load_settings
from devnet.launcher import service_spec
from devnet.lightning.credentials import MACAROON_FILE
from tests.lightning.conftest import start_devnet


@pytest.mark.parametrize("config", ["config/local.toml", "config/e2e.toml"])
def test_config_points_at_the_devnet_coordinator_node(config: str) -> None:
    settings = load_settings(Path(config), env={})
    assert settings.devnet is not None
    spec = service_spec("lightning")
    data_dir = settings.devnet.data_folder / spec.name  # as `coordinator dev` launches it
    assert settings.lightning.macaroon_file_path == data_dir / "nodes" / "coordinator" / (
        MACAROON_FILE
    )
    port = getattr(settings.devnet, spec.port_setting)
    assert settings.lightning.base_url == f"http://127.0.0.1:{port}/nodes/coordinator"
    assert spec.usage


async def test_devnet_creates_the_coordinator_node_the_config_names(tmp_path: Path) -> None:
    devnet_folder = tmp_path / "devnet"
    service = await asyncio.to_thread(start_devnet, devnet_folder / "lightning")
    try:
        settings = load_settings(
            Path("config/local.toml"),
            env={
                "COORDINATOR__LIGHTNING__BASE_URL": f"{service.url}/nodes/coordinator",
                "COORDINATOR__LIGHTNING__MACAROON_FILE_PATH": str(
                    devnet_folder / "lightning" / "nodes" / "coordinator" / MACAROON_FILE
                ),
            },
        )
        async with LndRestClient.from_settings(
            settings.lightning, settings.bitcoin.network
        ) as client:
            info = await client.check_network()
            assert info.alias == "coordinator"
            assert (await client.channel_balance()).local_msat > 0
    finally:
        await asyncio.to_thread(service.stop)
