"""What the coordinator needs from its on-chain wallet (the market maker's funds)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from coordinator_core.errors import PermanentError, TransientError
from ticketdlc.bitcoin.tx import Transaction, TxOut
from ticketdlc.typed_bytes import Txid


class InsufficientFundsError(PermanentError):
    """The wallet cannot pay the amount plus the fee."""

    code = "insufficient_funds"


class FeeTooHighError(PermanentError):
    """The transaction would pay more fee than the caller allowed."""

    code = "fee_too_high"


class CoinLockedError(TransientError):
    """A coin to be signed is locked for another transaction (a funding PSBT, another child)."""

    code = "coin_locked"


@dataclass(frozen=True)
class WalletBalance:
    """Balance in sats, split as BDK does."""

    immature: int
    trusted_pending: int
    untrusted_pending: int
    confirmed: int

    @property
    def total(self) -> int:
        return self.immature + self.trusted_pending + self.untrusted_pending + self.confirmed

    @property
    def spendable(self) -> int:
        return self.confirmed + self.trusted_pending


@dataclass(frozen=True)
class WalletOutput:
    """An output the wallet owns."""

    outpoint: str  # "txid:vout"
    value: int
    address: str | None
    keychain: str  # "external" or "internal" (change)
    is_spent: bool
    confirmation_height: int | None  # None while unconfirmed
    locked: bool = False  # reserved for a transaction not broadcast yet (funding, CPFP child)


@dataclass(frozen=True)
class FundingPsbt:
    """An unsigned transaction paying a contract's funding output, as a PSBT."""

    psbt: str  # base64
    txid: Txid  # does not change when the segwit inputs are signed
    vout: int  # index of the funding output
    fee: int


@dataclass(frozen=True)
class SignedTransaction:
    """A fully signed transaction, its signatures checked by Bitcoin Core's script interpreter."""

    txid: Txid
    raw: bytes
    fee: int


class Wallet(Protocol):
    """The coordinator's taproot wallet. Chain access failures raise TransientError."""

    async def full_scan(self) -> int:
        """Scan every derived script for history (start-up); returns the synced tip height."""
        ...

    async def sync(self) -> int:
        """Refresh the revealed scripts' history; returns the synced tip height."""
        ...

    async def balance(self) -> WalletBalance: ...

    async def new_address(self) -> str:
        """Reveal (and persist) the next unused receive address."""
        ...

    async def outputs(self, include_spent: bool = False) -> list[WalletOutput]: ...

    async def confirmed_outpoints_of(self, address: str) -> list[str]:
        """``txid:vout`` of the confirmed unspent outputs the wallet holds at ``address``."""
        ...

    async def fee_rate(self, target_blocks: int = 1) -> int:
        """Whole sat/vB for a confirmation target, with a fallback if the estimate is missing."""
        ...

    async def send(
        self,
        address: str,
        amount_sats: int | None,
        *,
        fee_rate: int | None = None,
        max_fee_sats: int | None = None,
        from_outpoints: Sequence[str] | None = None,
    ) -> SignedTransaction:
        """Pay ``amount_sats`` (everything if ``None``) to ``address`` and broadcast it."""
        ...

    async def build_funding_psbt(
        self, script_pubkey: bytes, value_sats: int, fee_rate: int
    ) -> FundingPsbt:
        """Select coins for a funding output; the coins stay locked until released or spent."""
        ...

    async def release_funding(self, psbt: str) -> None:
        """Unlock the coins of a funding PSBT that will not be broadcast."""
        ...

    async def unlock_unclaimed(self, keep: Sequence[str]) -> list[str]:
        """Unlock every locked coin that none of the ``keep`` PSBTs spends (coins a crash left
        locked between building a funding PSBT and recording it); returns their outpoints."""
        ...

    async def sign_psbt(self, psbt: str) -> SignedTransaction:
        """Sign the wallet's inputs of ``psbt`` and finalize it."""
        ...

    async def sign_and_lock(
        self,
        tx: Transaction,
        spent_outputs: Sequence[TxOut],
        keyless_inputs: Collection[int],
        relock: Collection[str] = (),
    ) -> SignedTransaction:
        """Sign the wallet's inputs of a transaction built elsewhere (a CPFP child) and lock
        those coins until they are spent or released.

        ``spent_outputs`` are the outputs every input spends, in input order; the inputs in
        ``keyless_inputs`` (a pay-to-anchor) are someone else's and keep an empty witness.
        Raises :class:`CoinLockedError` if a wallet input is locked already, unless its
        outpoint is in ``relock`` (the coins of the child this one replaces).
        """
        ...

    async def release_coins(self, outpoints: Sequence[str]) -> None:
        """Unlock coins locked by :meth:`sign_and_lock` for a transaction never broadcast."""
        ...

    async def broadcast(self, raw_tx: bytes) -> Txid:
        """Broadcast (idempotently) and record the transaction in the wallet; returns the txid."""
        ...

    async def close(self) -> None:
        """Stop the wallet backend; the wallet's state is already persisted."""
        ...
