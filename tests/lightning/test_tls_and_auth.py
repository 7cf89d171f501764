"""Transport security: TLS certificate pinning and per-node macaroons."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from coordinator.adapters.lightning import LndRestClient
from coordinator.adapters.lightning.transport import pinned_ssl_context
from coordinator.config import LightningSettings
from coordinator_core.errors import ConfigError, NotFoundError, PermanentError
from devnet.launcher import service_argv, service_spec, stop_process
from devnet.lightning.credentials import write_self_signed_pair
from tests.conftest import free_port
from tests.lightning.conftest import TOKEN, Nodes


class TlsDevnet:
    """A devnet Lightning server started with ``--tls`` (HTTPS only, self-signed cert)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.cert_path = data_dir / "tls.cert"
        spec = service_spec("lightning")
        argv = service_argv(spec, "127.0.0.1", self.port, data_dir, TOKEN, ["--tls"])
        self.process = subprocess.Popen(argv, env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "devnet exited"
            if self.cert_path.exists():
                context = pinned_ssl_context(self.cert_path.read_bytes())
                try:
                    if httpx.get(f"{self.url}/health", verify=context).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise AssertionError("TLS devnet did not start")

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
async def tls_devnet(tmp_path: Path) -> AsyncIterator[TlsDevnet]:
    devnet = TlsDevnet(tmp_path / "devnet")
    try:
        await asyncio.to_thread(devnet.wait_ready)
        yield devnet
    finally:
        await asyncio.to_thread(devnet.stop)


def coordinator_settings(devnet: TlsDevnet, cert_path: Path | None) -> LightningSettings:
    return LightningSettings(
        base_url=f"{devnet.url}/nodes/coordinator",
        macaroon_file_path=devnet.data_dir / "nodes" / "coordinator" / "admin.macaroon",
        tls_cert_path=cert_path,
        max_retries=0,
    )


async def test_pinned_certificate_is_accepted_and_others_refused(
    tls_devnet: TlsDevnet, tmp_path: Path
) -> None:
    pinned = LndRestClient.from_settings(
        coordinator_settings(tls_devnet, tls_devnet.cert_path), "regtest"
    )
    async with pinned:
        info = await pinned.check_network()
        assert info.alias == "coordinator"

    other_cert = tmp_path / "other" / "tls.cert"
    write_self_signed_pair(other_cert, tmp_path / "other" / "tls.key")
    wrong = LndRestClient.from_settings(coordinator_settings(tls_devnet, other_cert), "regtest")
    async with wrong:
        with pytest.raises(PermanentError, match="TLS certificate not trusted"):
            await wrong.get_info()

    # Without a pin only public CAs are trusted, and a self-signed node certificate is not.
    unpinned = LndRestClient.from_settings(coordinator_settings(tls_devnet, None), "regtest")
    async with unpinned:
        with pytest.raises(PermanentError, match="TLS certificate not trusted"):
            await unpinned.get_info()


def test_tls_configuration_mistakes_are_config_errors(tmp_path: Path) -> None:
    cert = tmp_path / "tls.cert"
    write_self_signed_pair(cert, tmp_path / "tls.key")
    with pytest.raises(ConfigError, match="not https"):
        LndRestClient(
            "http://127.0.0.1:1/nodes/x", network="regtest", tls_cert_pem=cert.read_bytes()
        )
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        LndRestClient("https://127.0.0.1:1", network="regtest", tls_cert_pem=b"not a cert")
    with pytest.raises(ConfigError, match="cannot read"):
        LndRestClient.from_settings(
            LightningSettings(macaroon_file_path=tmp_path / "missing.macaroon"), "regtest"
        )


async def test_each_node_accepts_only_its_own_macaroon(nodes: Nodes) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", 0)
    player_node, _ = await nodes.new("player", 0)
    assert (await coordinator.get_info()).pubkey == coordinator_node.pubkey
    # The macaroon file the devnet wrote is the one it accepts.
    assert coordinator_node.macaroon_path.read_bytes() == coordinator_node.macaroon

    borrowed = LndRestClient(
        coordinator_node.base_url, network="regtest", macaroon=player_node.macaroon
    )
    missing = LndRestClient(coordinator_node.base_url, network="regtest")
    unknown = LndRestClient(
        coordinator_node.base_url.rsplit("/", 1)[0] + "/nobody",
        network="regtest",
        macaroon=coordinator_node.macaroon,
    )
    nodes.clients += [borrowed, missing, unknown]
    with pytest.raises(PermanentError, match="verification failed"):
        await borrowed.get_info()
    with pytest.raises(PermanentError, match="expected 1 macaroon"):
        await missing.get_info()
    with pytest.raises(NotFoundError):
        await unknown.get_info()


async def test_wrong_network_is_refused(nodes: Nodes) -> None:
    node, _ = await nodes.new("coordinator", 0)
    mainnet = LndRestClient(node.base_url, network="bitcoin", macaroon=node.macaroon)
    nodes.clients.append(mainnet)
    with pytest.raises(ConfigError, match="regtest, not mainnet"):
        await mainnet.check_network()


async def test_control_api_needs_the_token(nodes: Nodes) -> None:
    url = nodes.control.url
    async with httpx.AsyncClient(base_url=url, trust_env=False) as anonymous:
        response = await anonymous.post("/devnet/nodes", json={"alias": "x", "balance_sats": 1})
        assert response.status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert (await anonymous.get("/devnet/nodes", headers=wrong)).status_code == 401
        assert (await anonymous.get("/health")).status_code == 200
    with pytest.raises(httpx.HTTPStatusError):
        await nodes.control.create_node("Not Valid!", 1)
