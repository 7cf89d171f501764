"""A devnet signing gateway for tests: started on a free port, driven over its HTTP APIs.

Use :func:`running_signer`::

    with running_signer(tmp_path / "signer", free_port()) as gateway:
        trust = gateway.trust()                       # devnet root + devnet PCR0 pin
        gateway.stats()                               # enclave epochs and nonce counters
        gateway.restart_enclave(1, rotate_key=False)  # a new epoch, same key
        gateway.process.restart()                     # the whole gateway (state persists)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from coordinator_core.keymeld.attestation import EnclaveTrust
from coordinator_core.nitro import attestation_trust
from devnet.launcher import ServiceProcess, service_spec
from devnet.signer.attestation import ATTESTATION_DIR, DEVNET_PCR0_HEX, ROOT_CERT_FILE


class SignerHandle:
    """The control API of a running devnet gateway."""

    def __init__(self, url: str, token: str, data_dir: Path, process: ServiceProcess) -> None:
        self.url = url
        self.token = token
        self.data_dir = data_dir
        self.process = process
        self.http = httpx.Client(base_url=url, timeout=30.0)

    @property
    def root_file(self) -> Path:
        return self.data_dir / ATTESTATION_DIR / ROOT_CERT_FILE

    def trust(self) -> EnclaveTrust:
        """What a test-profile coordinator verifies these enclaves against."""
        return EnclaveTrust(
            attestation_trust(
                "test", pcr_pins={"PCR0": DEVNET_PCR0_HEX}, trust_root_file=self.root_file
            )
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stats(self) -> dict[str, Any]:
        response = self.http.get("/devnet/enclaves", headers=self.auth)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def restart_enclave(self, enclave_id: int, rotate_key: bool = False) -> dict[str, Any]:
        response = self.http.post(
            f"/devnet/enclaves/{enclave_id}/restart",
            json={"rotate_key": rotate_key},
            headers=self.auth,
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def close(self) -> None:
        self.http.close()


@contextmanager
def running_signer(
    data_dir: Path, port: int, extra: list[str] | None = None
) -> Iterator[SignerHandle]:
    """Start ``python -m devnet.signer`` and stop it afterwards."""
    token = secrets.token_hex(16)
    args = ["--log-level", "warning", *(extra or [])]
    process = ServiceProcess(service_spec("signer"), port, data_dir, token, args).start()
    handle = SignerHandle(process.url, token, data_dir, process)
    try:
        yield handle
    finally:
        handle.close()
        process.stop()
