"""A devnet chain for tests: started on a free port, driven over its HTTP APIs.

Use the ``devnet_chain`` fixture (registered in ``tests/conftest.py``) or :func:`running_chain`::

    def test_something(devnet_chain):
        utxo = devnet_chain.faucet(address_or_script, 50_000)   # a spendable outpoint
        result = devnet_chain.broadcast(raw_tx)                  # .txid or .reason
        devnet_chain.mine(6)
        devnet_chain.set_time(unix)                              # next blocks' timestamps
        devnet_chain.set_min_fee_rate(25)                        # fee spike (sat/vB)
        answer = devnet_chain.submit_package([parent, child])    # POST /txs/package

Every call goes through the same Esplora and ``/devnet`` routes the coordinator uses.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devnet.chain.faucet import FaucetKey
from devnet.launcher import ServiceProcess, service_spec
from ticketdlc.bitcoin.address import address_to_script_pubkey
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxOut
from ticketdlc.contract.cpfp import CpfpChild

__all__ = [
    "Broadcast",
    "ChainHandle",
    "PackageAnswer",
    "TaprootKey",
    "Utxo",
    "devnet_chain",
    "new_taproot_key",
    "running_chain",
    "sign_cpfp_child",
]

#: A key-path taproot key that can sign spends of its own outputs (``.script_pubkey``,
#: ``.sign(tx, spent_outputs)``, ``.secret``).
TaprootKey = FaucetKey


def new_taproot_key() -> TaprootKey:
    """A fresh random key-path taproot key."""
    return TaprootKey(secrets.token_bytes(32))


def sign_cpfp_child(key: TaprootKey, child: CpfpChild) -> Transaction:
    """The child signed by ``key``, which holds every funding coin (the anchor input, first,
    stays without a witness)."""
    return key.sign(child.tx, child.prevouts, inputs=range(1, len(child.tx.inputs)))


@dataclass(frozen=True)
class Utxo:
    """A spendable output: where it is and what it holds."""

    txid: str
    vout: int
    value: int
    script_pubkey: bytes

    @property
    def outpoint(self) -> OutPoint:
        return OutPoint.from_display(self.txid, self.vout)

    @property
    def txout(self) -> TxOut:
        return TxOut(self.value, self.script_pubkey)


@dataclass(frozen=True)
class Broadcast:
    """What ``POST /tx`` said: a txid, or the reject reason."""

    txid: str | None
    reason: str | None

    @property
    def accepted(self) -> bool:
        return self.txid is not None


@dataclass(frozen=True)
class PackageAnswer:
    """What ``POST /txs/package`` said: ``submitpackage``'s result, or an error text."""

    status: int
    result: dict[str, Any] | None
    text: str

    @property
    def message(self) -> str | None:
        return None if self.result is None else str(self.result["package_msg"])

    def tx_result(self, wtxid: str) -> dict[str, Any]:
        assert self.result is not None, self.text
        entry: dict[str, Any] = self.result["tx-results"][wtxid]
        return entry


class ChainHandle:
    """Client of a running devnet chain."""

    def __init__(self, url: str, token: str, process: ServiceProcess | None = None) -> None:
        self.url = url
        self.token = token
        self.process = process
        self.http = httpx.Client(base_url=url, timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def _control(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(
            f"/devnet/{path}", json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        if response.status_code != 200:
            raise AssertionError(f"/devnet/{path}: HTTP {response.status_code}: {response.text}")
        return response.json()

    def get(self, path: str) -> Any:
        """GET an Esplora route; JSON answers are decoded, text answers returned as str."""
        response = self.http.get(path)
        response.raise_for_status()
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # -- control ------------------------------------------------------------------------------

    def mine(self, blocks: int = 1, address: str | None = None) -> list[str]:
        """Mine blocks (to the faucet unless ``address``); returns their hashes."""
        body: dict[str, Any] = {"blocks": blocks}
        if address is not None:
            body["address"] = address
        hashes: list[str] = self._control("mine", body)
        return hashes

    def mine_transactions(self, raw_txs: list[bytes]) -> httpx.Response:
        """Try to mine one block holding exactly ``raw_txs`` (consensus checks only)."""
        return self.http.post(
            "/devnet/mine",
            json={"blocks": 1, "transactions": [raw.hex() for raw in raw_txs]},
            headers={"Authorization": f"Bearer {self.token}"},
        )

    def faucet(self, destination: str | bytes, sats: int) -> Utxo:
        """Pay ``sats`` to an address or a scriptPubKey; the payment stays in the mempool."""
        if isinstance(destination, bytes):
            script = destination
            body: dict[str, Any] = {"script": destination.hex(), "sats": sats}
        else:
            script = address_to_script_pubkey(destination)
            body = {"address": destination, "sats": sats}
        answer = self._control("faucet", body)
        return Utxo(answer["txid"], answer["vout"], sats, script)

    def set_time(self, unix: int) -> int:
        """Set the devnet clock; returns the time the next block will carry."""
        next_time: int = self._control("time", {"unix": unix})["next_block_time"]
        return next_time

    def set_fee_estimates(self, estimates: dict[int, float]) -> None:
        self._control("fee-estimates", {"estimates": {str(k): v for k, v in estimates.items()}})

    def automine(self, interval_secs: float) -> None:
        self._control("automine", {"interval_secs": interval_secs})

    def set_min_fee_rate(self, sat_per_vb: float, mempool: bool = True) -> dict[str, float]:
        """The miner's minimum package fee rate and (``mempool``) the mempool's."""
        rates: dict[str, float] = self._control(
            "min-fee-rate", {"sat_per_vb": sat_per_vb, "mempool": mempool}
        )
        return rates

    # -- Esplora ------------------------------------------------------------------------------

    def broadcast(self, raw_tx: bytes) -> Broadcast:
        response = self.http.post("/tx", content=raw_tx.hex())
        if response.status_code == 200:
            return Broadcast(response.text.strip(), None)
        return Broadcast(None, reject_reason(response.text))

    def set_package_relay(self, enabled: bool) -> None:
        """Serve ``POST /txs/package``, or answer 404 like an Esplora without it."""
        self._control("package-relay", {"enabled": enabled})

    def submit_package(
        self, raw_txs: list[bytes], query: dict[str, str] | None = None
    ) -> PackageAnswer:
        """``POST /txs/package``: Core's ``submitpackage`` result, or the error text."""
        response = self.http.post(
            "/txs/package", json=[raw.hex() for raw in raw_txs], params=query or {}
        )
        if response.status_code == 200:
            return PackageAnswer(200, response.json(), "")
        return PackageAnswer(response.status_code, None, response.text)

    def tip_height(self) -> int:
        return int(self.get("/blocks/tip/height"))

    def tip_hash(self) -> str:
        return str(self.get("/blocks/tip/hash"))

    def tx(self, txid: str) -> dict[str, Any]:
        tx: dict[str, Any] = self.get(f"/tx/{txid}")
        return tx

    def tx_status(self, txid: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(f"/tx/{txid}/status")
        return status

    def mempool_txids(self) -> list[str]:
        txids: list[str] = self.get("/mempool/txids")
        return txids


def reject_reason(text: str) -> str:
    """The reason inside ``sendrawtransaction RPC error: {"code":…,"message":…}``."""
    _, _, payload = text.partition("sendrawtransaction RPC error: ")
    try:
        message: str = json.loads(payload)["message"]
        return message
    except (ValueError, KeyError, TypeError):
        return text.strip()


@contextmanager
def running_chain(data_dir: Path, port: int, automine_secs: float = 0.0) -> Iterator[ChainHandle]:
    """Start ``python -m devnet.chain`` and stop it afterwards."""
    token = secrets.token_hex(16)
    extra = ["--automine-secs", str(automine_secs), "--log-level", "warning"]
    process = ServiceProcess(service_spec("chain"), port, data_dir, token, extra).start()
    handle = ChainHandle(process.url, token, process)
    try:
        yield handle
    finally:
        handle.close()
        process.stop()


@pytest.fixture
def devnet_chain(tmp_path: Path) -> Iterator[ChainHandle]:
    """A fresh devnet chain (height 101, faucet funded) on a free port, no automine."""
    from tests.conftest import free_port

    with running_chain(tmp_path / "devnet-chain", free_port()) as handle:
        yield handle
