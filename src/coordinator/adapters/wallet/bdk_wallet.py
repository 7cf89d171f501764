"""The coordinator's wallet on bdkpython, every BDK call isolated in a worker process.

Descriptors are taproot (``tr(root/0/*)``, ``tr(root/1/*)``, see :mod:`.keys`); the wallet is
persisted by BDK in ``[bitcoin] storage_file``. Transactions are broadcast through the
coordinator's :class:`ChainSource` (idempotent) and then recorded in the wallet.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Final

from coordinator.adapters.wallet.keys import wallet_descriptors
from coordinator.adapters.wallet.process import WalletWorkerError, WorkerCrashedError, WorkerProcess
from coordinator.adapters.wallet.psbt import psbt_for
from coordinator.domain.ports.chain import ChainSource, fee_rate_for_target
from coordinator.domain.ports.wallet import (
    CoinLockedError,
    FeeTooHighError,
    FundingPsbt,
    InsufficientFundsError,
    SignedTransaction,
    WalletBalance,
    WalletOutput,
)
from coordinator_core.errors import ValidationError
from ticketdlc.bitcoin.tx import Transaction, TxOut
from ticketdlc.typed_bytes import Txid

log = logging.getLogger(__name__)

STOP_GAP: Final = 20
PARALLEL_REQUESTS: Final = 5
SCAN_TIMEOUT_SECS: Final = 600.0
CALL_TIMEOUT_SECS: Final = 60.0
MAX_FEE_RATE: Final = 10_000  # sat/vB; above this a rate is a mistake, not a choice


class BdkWallet:
    """:class:`coordinator.domain.ports.wallet.Wallet` backed by a BDK worker process."""

    def __init__(
        self,
        *,
        secret: bytes,
        network: str,
        storage_file: Path,
        esplora_url: str,
        chain: ChainSource,
    ) -> None:
        descriptors = wallet_descriptors(secret, network)
        storage_file.parent.mkdir(parents=True, exist_ok=True)
        self.chain = chain
        self.worker = WorkerProcess(
            {
                "external": descriptors.external,
                "internal": descriptors.internal,
                "network": network,
                "storage_file": str(storage_file),
                "esplora_url": esplora_url.rstrip("/"),
            }
        )

    async def close(self) -> None:
        await self.worker.close()

    async def _call(self, method: str, time_limit: float = CALL_TIMEOUT_SECS, **params: Any) -> Any:
        try:
            return await self.worker.call(method, time_limit, **params)
        except WalletWorkerError as exc:
            if exc.kind == "insufficient_funds":
                raise InsufficientFundsError(exc.message) from exc
            if exc.kind == "coin_locked":
                raise CoinLockedError(exc.message) from exc
            raise

    async def _read(self, method: str, time_limit: float = CALL_TIMEOUT_SECS, **params: Any) -> Any:
        """A call without side effects: retried once in a fresh worker if the worker died."""
        try:
            return await self._call(method, time_limit, **params)
        except WorkerCrashedError:
            log.warning("wallet worker died during %s; retrying in a new worker", method)
            return await self._call(method, time_limit, **params)

    # -- chain ----------------------------------------------------------------------------

    async def full_scan(self) -> int:
        height: int = await self._read(
            "full_scan", SCAN_TIMEOUT_SECS, stop_gap=STOP_GAP, parallel_requests=PARALLEL_REQUESTS
        )
        return height

    async def sync(self) -> int:
        height: int = await self._read(
            "sync", SCAN_TIMEOUT_SECS, parallel_requests=PARALLEL_REQUESTS
        )
        return height

    async def fee_rate(self, target_blocks: int = 1) -> int:
        return fee_rate_for_target(await self.chain.fee_estimates(), target_blocks)

    # -- reading ------------------------------------------------------------------------------

    async def balance(self) -> WalletBalance:
        return WalletBalance(**await self._read("balance"))

    async def new_address(self) -> str:
        address: str = await self._call("new_address")
        return address

    async def outputs(self, include_spent: bool = False) -> list[WalletOutput]:
        rows = await self._read("outputs", include_spent=include_spent)
        return [WalletOutput(**row) for row in rows]

    # -- spending -------------------------------------------------------------------------

    async def _script_of(self, address: str) -> str:
        script: str = await self._read("script_of", address=address)
        return script

    @staticmethod
    def _check_fee_rate(fee_rate: int) -> int:
        if not 1 <= fee_rate <= MAX_FEE_RATE:
            raise ValidationError(f"fee rate must be 1..{MAX_FEE_RATE} sat/vB, got {fee_rate}")
        return fee_rate

    async def send(
        self,
        address: str,
        amount_sats: int | None,
        *,
        fee_rate: int | None = None,
        max_fee_sats: int | None = None,
        from_outpoints: Sequence[str] | None = None,
    ) -> SignedTransaction:
        if amount_sats is not None and amount_sats <= 0:
            raise ValidationError("the amount must be positive")
        script = await self._script_of(address)
        rate = self._check_fee_rate(fee_rate if fee_rate is not None else await self.fee_rate(1))
        built = await self._call(
            "build",
            recipients=[] if amount_sats is None else [(script, amount_sats)],
            drain_to=script if amount_sats is None else None,
            fee_rate=rate,
            outpoints=None if from_outpoints is None else list(from_outpoints),
            lock=False,
        )
        if max_fee_sats is not None and built["fee"] > max_fee_sats:
            raise FeeTooHighError(f"the fee would be {built['fee']} sats, over {max_fee_sats}")
        signed = await self.sign_psbt(built["psbt"])
        await self.broadcast(signed.raw)
        return signed

    async def confirmed_outpoints_of(self, address: str) -> list[str]:
        """Confirmed unspent outputs the wallet holds at ``address``."""
        return [
            output.outpoint
            for output in await self.outputs()
            if output.address == address and output.confirmation_height is not None
        ]

    async def build_funding_psbt(
        self, script_pubkey: bytes, value_sats: int, fee_rate: int
    ) -> FundingPsbt:
        if value_sats <= 0:
            raise ValidationError("the funding value must be positive")
        built = await self._call(
            "build",
            recipients=[(script_pubkey.hex(), value_sats)],
            drain_to=None,
            fee_rate=self._check_fee_rate(fee_rate),
            outpoints=None,
            lock=True,
        )
        outputs = [tuple(output) for output in built["outputs"]]
        vout = outputs.index((script_pubkey.hex(), value_sats))
        return FundingPsbt(
            psbt=built["psbt"], txid=Txid(built["txid"]), vout=vout, fee=built["fee"]
        )

    async def release_funding(self, psbt: str) -> None:
        await self._call("unlock", psbt=psbt)

    async def unlock_unclaimed(self, keep: Sequence[str]) -> list[str]:
        freed: list[str] = await self._call("unlock_unclaimed", keep=list(keep))
        return freed

    async def sign_psbt(self, psbt: str) -> SignedTransaction:
        signed = await self._read("sign", psbt=psbt)
        return SignedTransaction(
            txid=Txid(signed["txid"]), raw=bytes.fromhex(signed["raw"]), fee=signed["fee"]
        )

    async def sign_and_lock(
        self,
        tx: Transaction,
        spent_outputs: Sequence[TxOut],
        keyless_inputs: Collection[int],
        relock: Collection[str] = (),
    ) -> SignedTransaction:
        signed = await self._call(
            "sign_and_lock",
            psbt=psbt_for(tx, spent_outputs, keyless_inputs),
            relock=sorted(relock),
        )
        return SignedTransaction(
            txid=Txid(signed["txid"]), raw=bytes.fromhex(signed["raw"]), fee=signed["fee"]
        )

    async def release_coins(self, outpoints: Sequence[str]) -> None:
        await self._call("release_coins", outpoints=list(outpoints))

    async def broadcast(self, raw_tx: bytes) -> Txid:
        txid = await self.chain.broadcast(raw_tx)
        await self._read("apply_unconfirmed", raw_hex=raw_tx.hex())
        return txid
