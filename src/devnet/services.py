"""Registry of devnet services, used by ``coordinator dev`` and the tests to launch them.

Every service is started as ``python -m <module> --host H --port P --data-dir D --token T`` and
is ready when ``GET <health_path>`` answers 200.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    """How to launch one devnet service."""

    name: str
    title: str
    module: str
    port_setting: str  # attribute of DevnetSettings holding the port
    health_path: str
    usage: str = ""  # one line printed by `coordinator dev` once the service is ready
    # (command-line option, DevnetSettings attribute) pairs passed by `coordinator dev`
    setting_options: tuple[tuple[str, str], ...] = ()


# Filled in as services are implemented; order is start order (dependencies first).
SERVICES: list[ServiceSpec] = [
    ServiceSpec(
        name="s3",
        title="S3 object store (moto, backups)",
        module="devnet.s3",
        port_setting="s3_port",
        health_path="/moto-api/",
        usage="in memory; Litestream replicates the databases here "
        "(keys in <devnet data>/s3/access_key_id, secret_access_key)",
        setting_options=(("--bucket", "s3_bucket"),),
    ),
    ServiceSpec(
        name="chain",
        title="regtest chain (Esplora API)",
        module="devnet.chain",
        port_setting="chain_port",
        health_path="/health",
        usage="POST /devnet/mine {blocks}, /devnet/faucet {address, sats}, /devnet/time {unix}",
        setting_options=(("--automine-secs", "chain_automine_secs"),),
    ),
    ServiceSpec(
        name="oracle",
        title="weather oracle (noaa-oracle API)",
        module="devnet.oracle",
        port_setting="oracle_port",
        health_path="/health",
        usage="POST /devnet/weather to set forecasts and observations; "
        "POST /devnet/events/{id}/attest to sign now",
        setting_options=(("--expiry-delay-secs", "oracle_expiry_delay_secs"),),
    ),
    ServiceSpec(
        name="lightning",
        title="Lightning network (LND REST API)",
        module="devnet.lightning",
        port_setting="lightning_port",
        health_path="/health",
        usage="player node: POST /devnet/nodes {alias, balance_sats} (Bearer token), "
        "then LND REST at /nodes/{alias} with its admin.macaroon",
    ),
    ServiceSpec(
        name="signer",
        title="signing gateway (keymeld 0.10 API)",
        module="devnet.signer",
        port_setting="signer_port",
        health_path="/api/v1/health",
        usage="enclave epochs and nonce counters: GET /devnet/enclaves; "
        "restart one: POST /devnet/enclaves/{id}/restart {rotate_key}",
        setting_options=(
            ("--max-subsets", "signer_max_subsets"),
            ("--max-batch-items", "signer_max_batch_items"),
            ("--max-signing-sessions", "signer_max_signing_sessions"),
        ),
    ),
]
