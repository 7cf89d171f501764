"""A production configuration builds the real chain client and wallet and never touches devnet
code: nothing under ``devnet`` is imported, in the coordinator or in the wallet worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

_BUILD_FROM_PRODUCTION_CONFIG = """
import asyncio, json, sys
from pathlib import Path
from coordinator.config import load_settings
from coordinator.app import composition
from coordinator_core.keyfile import load_or_create_secret
from coordinator.adapters.wallet.process import WORKER_MODULE

tmp = Path(sys.argv[2])
settings = load_settings(Path(sys.argv[1]), env={
    "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(tmp / "key.pem"),
    "COORDINATOR__BITCOIN__STORAGE_FILE": str(tmp / "bitcoin.db"),
})

async def main():
    chain = composition.chain_source(settings)
    secret = load_or_create_secret(settings.coordinator.private_key_file)
    wallet = composition.wallet(settings, chain, secret)
    address = await wallet.new_address()   # starts the worker and opens the wallet database
    await wallet.close()
    await chain.aclose()
    return address

address = asyncio.run(main())
print(json.dumps({
    "profile": settings.profile,
    "devnet_section": settings.devnet is not None,
    "esplora": settings.bitcoin.esplora_url,
    "address": address,
    "worker": WORKER_MODULE,
    "devnet_modules": sorted(m for m in sys.modules if m == "devnet" or m.startswith("devnet.")),
}))
"""

_WORKER_IMPORTS = """
import json, sys
import coordinator.adapters.wallet.worker
print(json.dumps(sorted(m for m in sys.modules if m == "devnet" or m.startswith("devnet."))))
"""


def test_production_config_builds_chain_and_wallet_without_devnet(tmp_path: Path) -> None:
    config = REPO_ROOT / "config" / "production.example.toml"
    result = subprocess.run(
        [sys.executable, "-c", _BUILD_FROM_PRODUCTION_CONFIG, str(config), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["profile"] == "production" and report["devnet_section"] is False
    assert report["esplora"].startswith("https://")
    assert report["address"].startswith("tb1p")  # signet taproot address
    assert not report["worker"].startswith("devnet")
    assert report["devnet_modules"] == []

    worker = subprocess.run(
        [sys.executable, "-c", _WORKER_IMPORTS], capture_output=True, text=True, check=True
    )
    assert json.loads(worker.stdout) == []
