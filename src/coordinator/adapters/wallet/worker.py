"""The wallet worker: every BDK call runs in this child process.

bdkpython is Rust behind uniffi, and a Rust panic aborts the whole process (bdk_wallet#557), so
the coordinator never calls BDK itself: it talks to this process over JSON lines on
stdin/stdout (``{"id", "method", "params"}`` → ``{"id", "ok", "result" | "error"}``) and starts
a new one if it dies. Run as ``python -m coordinator.adapters.wallet.worker``.

The worker holds an exclusive lock on ``<storage file>.lock`` while it has the wallet open, so a
second process (the CLI while the server runs) cannot write the same wallet database.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any

import bdkpython as bdk

from coordinator_core.script_check import first_invalid_input

log = logging.getLogger("coordinator.wallet.worker")

NETWORKS = {
    "regtest": bdk.Network.REGTEST,
    "signet": bdk.Network.SIGNET,
    "testnet": bdk.Network.TESTNET,
    "bitcoin": bdk.Network.BITCOIN,
}
# Sign without finalizing, then finalize separately: the documented workaround for the
# "Overflowing addition" panic of Wallet.sign(try_finalize=True) (bdk_wallet#557).
SIGN_OPTIONS = bdk.SignOptions(
    trust_witness_utxo=False,
    assume_height=None,
    allow_all_sighashes=False,
    try_finalize=False,
    sign_with_tap_internal_key=True,
    allow_grinding=True,
)


class WorkerError(Exception):
    """An expected failure, reported to the parent with a kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class WalletWorker:
    """The open wallet and the requests it serves."""

    def __init__(self) -> None:
        self.wallet: Any = None
        self.persister: Any = None
        self.client: Any = None
        self.network: Any = None
        self._lock_file: IO[bytes] | None = None

    # -- setup --------------------------------------------------------------------------------

    def open(
        self, external: str, internal: str, network: str, storage_file: str, esplora_url: str
    ) -> dict[str, Any]:
        if self.wallet is not None:
            raise WorkerError("state", "the wallet is already open")
        self._lock(storage_file)
        kind = bdk.NetworkKind.MAIN if network == "bitcoin" else bdk.NetworkKind.TEST
        ext = bdk.Descriptor(external, kind)
        chg = bdk.Descriptor(internal, kind)
        self.network = NETWORKS[network]
        self.persister = bdk.Persister.new_sqlite(storage_file)
        try:
            self.wallet = bdk.Wallet.load(ext, chg, self.persister)
            created = False
        except bdk.LoadWithPersistError.CouldNotLoad as exc:
            if str(exc):
                raise WorkerError("config", f"cannot load the wallet database: {exc}") from exc
            self.wallet = bdk.Wallet(ext, chg, self.network, self.persister)
            self.wallet.persist(self.persister)
            created = True
        if self.wallet.network() != self.network:
            raise WorkerError("config", f"the wallet database is for {self.wallet.network()}")
        self.client = bdk.EsploraClient(esplora_url)
        return {
            "created": created,
            "fingerprint": self.wallet.descriptor_checksum(bdk.KeychainKind.EXTERNAL),
        }

    def _lock(self, storage_file: str) -> None:
        handle = open(storage_file + ".lock", "wb")  # noqa: SIM115 - held for the process life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise WorkerError(
                "locked",
                "the wallet database is in use by another process (a running coordinator?)",
            ) from exc
        self._lock_file = handle

    def _persist(self) -> None:
        self.wallet.persist(self.persister)

    # -- chain ----------------------------------------------------------------------------

    def full_scan(self, stop_gap: int, parallel_requests: int) -> int:
        request = self.wallet.start_full_scan().build()
        update = self._esplora(lambda: self.client.full_scan(request, stop_gap, parallel_requests))
        self.wallet.apply_update(update)
        self._persist()
        return int(self.wallet.latest_checkpoint().height)

    def sync(self, parallel_requests: int) -> int:
        request = self.wallet.start_sync_with_revealed_spks().build()
        update = self._esplora(lambda: self.client.sync(request, parallel_requests))
        self.wallet.apply_update(update)
        self._persist()
        return int(self.wallet.latest_checkpoint().height)

    @staticmethod
    def _esplora(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except bdk.EsploraError as exc:
            raise WorkerError("transient", f"esplora: {type(exc).__name__}: {exc}") from exc

    def apply_unconfirmed(self, raw_hex: str) -> None:
        tx = bdk.Transaction(bytes.fromhex(raw_hex))
        self.wallet.apply_unconfirmed_txs([bdk.UnconfirmedTx(tx=tx, last_seen=int(time.time()))])
        self._persist()

    # -- reading ------------------------------------------------------------------------------

    def balance(self) -> dict[str, int]:
        balance = self.wallet.balance()
        return {
            "immature": balance.immature.to_sat(),
            "trusted_pending": balance.trusted_pending.to_sat(),
            "untrusted_pending": balance.untrusted_pending.to_sat(),
            "confirmed": balance.confirmed.to_sat(),
        }

    def new_address(self) -> str:
        info = self.wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL)
        self._persist()
        return str(info.address)

    def outputs(self, include_spent: bool) -> list[dict[str, Any]]:
        rows = self.wallet.list_output() if include_spent else self.wallet.list_unspent()
        return [self._output(row) for row in rows]

    def _output(self, row: Any) -> dict[str, Any]:
        script = row.txout.script_pubkey
        try:
            address: str | None = str(bdk.Address.from_script(script, self.network))
        except Exception:
            address = None
        position = row.chain_position
        confirmed = isinstance(position, bdk.ChainPosition.CONFIRMED)
        return {
            "outpoint": f"{row.outpoint.txid}:{row.outpoint.vout}",
            "value": row.txout.value.to_sat(),
            "address": address,
            "keychain": "external" if row.keychain == bdk.KeychainKind.EXTERNAL else "internal",
            "is_spent": bool(row.is_spent),
            "confirmation_height": (
                position.confirmation_block_time.block_id.height if confirmed else None
            ),
            "locked": bool(self.wallet.is_outpoint_locked(row.outpoint)),
        }

    def script_of(self, address: str) -> str:
        try:
            parsed = bdk.Address(address, self.network)
        except Exception as exc:
            raise WorkerError("validation", f"not a {self._network_name()} address: {exc}") from exc
        script: bytes = parsed.script_pubkey().to_bytes()
        return script.hex()

    def _network_name(self) -> str:
        return str(self.network).rsplit(".", 1)[-1].lower()

    # -- spending -------------------------------------------------------------------------

    def build(
        self,
        recipients: list[tuple[str, int]],
        drain_to: str | None,
        fee_rate: int,
        outpoints: list[str] | None,
        lock: bool,
    ) -> dict[str, Any]:
        builder = bdk.TxBuilder().fee_rate(bdk.FeeRate.from_sat_per_vb(fee_rate))
        for script_hex, sats in recipients:
            builder = builder.add_recipient(
                bdk.Script(bytes.fromhex(script_hex)), bdk.Amount.from_sat(sats)
            )
        if drain_to is not None:
            builder = builder.drain_to(bdk.Script(bytes.fromhex(drain_to)))
            if outpoints is None:
                builder = builder.drain_wallet()
        if outpoints is not None:
            builder = builder.add_utxos([_outpoint(text) for text in outpoints])
            builder = builder.manually_selected_only()
        builder = builder.only_witness_utxo()
        try:
            psbt = builder.finish(self.wallet)
        except bdk.CreateTxError as exc:
            if isinstance(exc, bdk.CreateTxError.InsufficientFunds) or "Insufficient funds" in str(
                exc
            ):
                raise WorkerError("insufficient_funds", str(exc)) from exc
            raise WorkerError("validation", f"{type(exc).__name__}: {exc}") from exc
        unsigned = psbt.extract_tx_unchecked_fee_rate()
        if lock:
            for txin in unsigned.input():
                self.wallet.lock_outpoint(txin.previous_output)
        self._persist()  # the change address index (and locks) must survive a restart
        return {
            "psbt": psbt.serialize(),
            "txid": str(unsigned.compute_txid()),
            "fee": int(psbt.fee()),
            "outputs": [
                (out.script_pubkey.to_bytes().hex(), out.value.to_sat())
                for out in unsigned.output()
            ],
        }

    def unlock(self, psbt: str) -> None:
        unsigned = bdk.Psbt(psbt).extract_tx_unchecked_fee_rate()
        for txin in unsigned.input():
            self.wallet.unlock_outpoint(txin.previous_output)
        self._persist()

    def unlock_unclaimed(self, keep: list[str]) -> list[str]:
        """Unlock every locked coin no PSBT of ``keep`` spends; returns the unlocked ones."""
        kept = {
            _outpoint_text(txin.previous_output)
            for text in keep
            for txin in bdk.Psbt(text).extract_tx_unchecked_fee_rate().input()
        }
        freed = []
        for outpoint in self.wallet.list_locked_outpoints():
            if _outpoint_text(outpoint) not in kept:
                self.wallet.unlock_outpoint(outpoint)
                freed.append(_outpoint_text(outpoint))
        if freed:
            self._persist()
        return freed

    def sign(self, psbt: str) -> dict[str, Any]:
        parsed = bdk.Psbt(psbt)
        spent = [_spent_output(item) for item in parsed.input()]
        self.wallet.sign(parsed, SIGN_OPTIONS)
        result = parsed.finalize()
        if not result.could_finalize:
            raise WorkerError("validation", f"cannot finalize the transaction: {result.errors}")
        tx = result.psbt.extract_tx_unchecked_fee_rate()
        raw: bytes = tx.serialize()
        failing = first_invalid_input(raw, spent)
        if failing is not None:
            raise WorkerError(
                "internal", f"input {failing} of the signed transaction does not verify"
            )
        return {"txid": str(tx.compute_txid()), "raw": raw.hex(), "fee": int(result.psbt.fee())}

    def sign_and_lock(self, psbt: str, relock: list[str]) -> dict[str, Any]:
        """Sign the wallet's inputs of a PSBT built elsewhere (others carry a final witness),
        then lock those coins; refuses coins locked already unless listed in ``relock``."""
        parsed = bdk.Psbt(psbt)
        unsigned = parsed.extract_tx_unchecked_fee_rate()
        allowed = set(relock)
        own = []
        for txin, item in zip(unsigned.input(), parsed.input(), strict=True):
            outpoint = txin.previous_output
            utxo = item.witness_utxo
            if utxo is None or not self.wallet.is_mine(utxo.script_pubkey):
                continue
            text = f"{outpoint.txid}:{outpoint.vout}"
            if self.wallet.is_outpoint_locked(outpoint) and text not in allowed:
                raise WorkerError("coin_locked", f"coin {text} is locked for another transaction")
            own.append(outpoint)
        if not own:
            raise WorkerError("validation", "no input of the transaction is the wallet's")
        signed = self.sign(psbt)
        for outpoint in own:
            self.wallet.lock_outpoint(outpoint)
        self._persist()
        return signed

    def release_coins(self, outpoints: list[str]) -> None:
        for text in outpoints:
            self.wallet.unlock_outpoint(_outpoint(text))
        self._persist()


def _outpoint_text(outpoint: Any) -> str:
    return f"{outpoint.txid}:{outpoint.vout}"


def _spent_output(psbt_input: Any) -> tuple[bytes, int]:
    utxo = psbt_input.witness_utxo
    if utxo is None:
        raise WorkerError("validation", "a PSBT input has no witness UTXO")
    return utxo.script_pubkey.to_bytes(), utxo.value.to_sat()


def _outpoint(text: str) -> Any:
    txid, sep, vout = text.partition(":")
    if not sep or not vout.isdigit():
        raise WorkerError("validation", f"not an outpoint: {text!r}")
    try:
        return bdk.OutPoint(txid=bdk.Txid.from_string(txid), vout=int(vout))
    except Exception as exc:
        raise WorkerError("validation", f"not an outpoint: {text!r}") from exc


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    """Answer requests until stdin closes."""
    worker = WalletWorker()
    for line in stdin:
        request = json.loads(line)
        try:
            method = getattr(worker, request["method"])
            if request["method"].startswith("_"):
                raise WorkerError("validation", "unknown method")
            reply = {"id": request["id"], "ok": True, "result": method(**request["params"])}
        except WorkerError as exc:
            reply = {"id": request["id"], "ok": False, "kind": exc.kind, "error": str(exc)}
        except Exception as exc:
            log.exception("wallet worker: %s failed", request.get("method"))
            reply = {
                "id": request["id"],
                "ok": False,
                "kind": "internal",
                "error": f"{type(exc).__name__}: {exc}",
            }
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("WALLET_WORKER_LOG_LEVEL", "WARNING"),
        stream=sys.stderr,
        format="[%(asctime)s %(levelname)s] %(name)s: %(message)s",
    )
    serve(sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
