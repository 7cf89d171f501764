"""Esplora HTTP client: the coordinator's chain source (devnet and real Esplora alike).

Every request has a timeout; transport errors and 429/5xx answers are retried with backoff and
finally raise :class:`TransientError`. Responses are read with a size bound and validated before
use. Broadcasting is idempotent: a transaction the server already knows counts as broadcast.
Packages go through ``POST /txs/package`` (Esplora's relay of Bitcoin Core's ``submitpackage``);
a server without it raises :class:`PackageRelayUnsupportedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Sequence
from typing import Annotated, Any, Final

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from coordinator.domain.ports.chain import (
    BroadcastRejectedError,
    OutputSpend,
    PackageRelayUnsupportedError,
    PackageResult,
    PackageTxResult,
    TxStatus,
    confirmations_from,
)
from coordinator_core.errors import TransientError, ValidationError
from coordinator_core.http_body import read_bounded
from coordinator_core.observed_calls import ObservedTransport
from coordinator_core.validation import decimal_int, is_hex
from ticketdlc.bitcoin.encoding import DecodeError
from ticketdlc.bitcoin.tx import Transaction
from ticketdlc.typed_bytes import Txid

log = logging.getLogger(__name__)

RETRYABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})
MAX_PACKAGE_TXS: Final = 25
SATS_PER_BTC: Final = 100_000_000
_NO_PACKAGE_RELAY: Final = ("method not found", "endpoint does not exist", "not found")
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
TxidField = Annotated[Txid, Field(pattern=r"^[0-9a-f]{64}$")]
MAX_HEIGHT: Final = 100_000_000
Height = Annotated[int, Field(ge=0, le=MAX_HEIGHT)]
Timestamp = Annotated[int, Field(ge=0, le=2**32)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Status(_Model):
    confirmed: bool
    block_height: Height | None = None
    block_hash: Hash | None = None
    block_time: Timestamp | None = None

    def to_domain(self) -> TxStatus:
        if not self.confirmed:
            return TxStatus(confirmed=False)
        if self.block_height is None or self.block_hash is None:
            raise ValidationError("esplora: confirmed status without block height or hash")
        return TxStatus(True, self.block_height, self.block_hash, self.block_time)


class _Outspend(_Model):
    spent: bool
    txid: Hash | None = None
    vin: Annotated[int, Field(ge=0)] | None = None
    status: _Status | None = None


class _Block(_Model):
    id: Hash
    height: Height
    timestamp: Timestamp
    mediantime: Timestamp | None = None


Btc = Annotated[float, Field(ge=0, le=21_000_000)]


class _PackageFees(_Model):
    base: Btc
    effective_feerate: Btc | None = Field(None, alias="effective-feerate")


class _PackageTx(_Model):
    txid: Hash
    other_wtxid: Hash | None = Field(None, alias="other-wtxid")
    vsize: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    fees: _PackageFees | None = None
    error: Annotated[str, Field(max_length=1000)] | None = None


class _PackageAnswer(_Model):
    package_msg: Annotated[str, Field(max_length=1000)]
    tx_results: dict[str, _PackageTx] = Field(alias="tx-results", max_length=MAX_PACKAGE_TXS)
    replaced_transactions: list[Hash] = Field(
        default_factory=list, alias="replaced-transactions", max_length=10_000
    )


_OUTSPENDS = TypeAdapter(list[_Outspend])
_BLOCKS = TypeAdapter(list[_Block])
_FEES = TypeAdapter(dict[str, float])


def _check_txid(txid: str) -> Txid:
    if not is_hex(txid, 32, lowercase=True):
        raise ValidationError(f"not a txid: {txid[:70]!r}")
    return Txid(txid)


class EsploraClient:
    """Async client of an Esplora REST API rooted at ``base_url`` (e.g. ``…/api``)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_secs: float = 15.0,
        retries: int = 3,
        backoff_secs: float = 0.25,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_secs = backoff_secs
        self.max_response_bytes = max_response_bytes
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_secs, connect=min(timeout_secs, 5.0)),
            transport=ObservedTransport("chain", transport),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> EsploraClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- transport ----------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send with retries; returns ``(status, body)`` for any non-retryable answer."""
        attempt = 0
        while True:
            try:
                status, body = await self._send_once(method, path, content, headers)
                if status not in RETRYABLE_STATUS:
                    return status, body
                problem = f"HTTP {status}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt >= self.retries:
                raise TransientError(f"esplora {method} {path}: {problem}")
            delay = self.backoff_secs * 2**attempt * (1 + random.random() / 2)
            log.debug("esplora %s %s failed (%s); retry in %.2fs", method, path, problem, delay)
            attempt += 1
            await asyncio.sleep(delay)

    async def _send_once(
        self, method: str, path: str, content: bytes | None, headers: dict[str, str] | None
    ) -> tuple[int, bytes]:
        async with self._http.stream(method, path, content=content, headers=headers) as response:
            body = await read_bounded(
                response, self.max_response_bytes, f"esplora {path}", ValidationError
            )
            return response.status_code, body

    async def _get(self, path: str, *, allow_missing: bool = False) -> bytes | None:
        status, body = await self._request("GET", path)
        if status == 200:
            return body
        if status == 404 and allow_missing:
            return None
        raise ValidationError(f"esplora GET {path}: HTTP {status}: {_snippet(body)}")

    async def _get_json(self, path: str, adapter: Any, *, allow_missing: bool = False) -> Any:
        body = await self._get(path, allow_missing=allow_missing)
        if body is None:
            return None
        try:
            return adapter.validate_json(body)
        except PydanticValidationError as exc:
            raise ValidationError(f"esplora GET {path}: unexpected response: {exc}") from exc

    async def _get_text(self, path: str) -> str:
        body = await self._get(path)
        assert body is not None
        return body.decode("ascii", errors="replace").strip()

    # -- ChainSource ----------------------------------------------------------------------

    async def tip_height(self) -> int:
        text = await self._get_text("/blocks/tip/height")
        try:
            return decimal_int(text, "esplora tip height", high=MAX_HEIGHT)
        except ValidationError:
            raise ValidationError(f"esplora: bad tip height {text[:20]!r}") from None

    async def tip_hash(self) -> str:
        """Hash of the best block."""
        text = await self._get_text("/blocks/tip/hash")
        if not is_hex(text, 32, lowercase=True):
            raise ValidationError(f"esplora: bad tip hash {text[:70]!r}")
        return text

    async def broadcast(self, raw_tx: bytes) -> Txid:
        try:
            txid = Transaction.parse(raw_tx).txid_hex()
        except (DecodeError, ValueError) as exc:
            raise ValidationError(f"cannot broadcast an invalid transaction: {exc}") from exc
        status, body = await self._request("POST", "/tx", content=raw_tx.hex().encode())
        if status == 200:
            answered = body.decode("ascii", errors="replace").strip()
            if answered != txid:
                raise ValidationError(f"esplora answered txid {answered[:70]!r}, expected {txid}")
            return txid
        reason = _snippet(body)
        if 400 <= status < 500 and await self.tx_status(txid) is not None:
            log.info("broadcast of %s: already known to the chain source (%s)", txid, reason)
            return txid
        if 400 <= status < 500:
            raise BroadcastRejectedError(txid, reason)
        raise TransientError(f"esplora POST /tx: HTTP {status}: {reason}")

    async def submit_package(self, raw_txs: Sequence[bytes]) -> PackageResult:
        if not 1 <= len(raw_txs) <= MAX_PACKAGE_TXS:
            raise ValidationError(f"a package holds 1 to {MAX_PACKAGE_TXS} transactions")
        try:
            txs = [Transaction.parse(raw) for raw in raw_txs]
        except (DecodeError, ValueError) as exc:
            raise ValidationError(f"cannot submit an invalid transaction: {exc}") from exc
        body = json.dumps([raw.hex() for raw in raw_txs]).encode()
        status, answer = await self._request(
            "POST", "/txs/package", body, {"Content-Type": "application/json"}
        )
        reason = _snippet(answer)
        child = txs[-1].txid_hex()
        if status in (404, 405, 501) or (
            400 <= status < 500 and reason.lower().startswith(_NO_PACKAGE_RELAY)
        ):
            raise PackageRelayUnsupportedError(
                f"the chain source at {self.base_url} does not relay packages (POST /txs/package "
                f"answered HTTP {status}: {reason}); it needs an Esplora with package relay on "
                "Bitcoin Core 28 or later"
            )
        if 400 <= status < 500:
            raise BroadcastRejectedError(child, reason)
        if status != 200:
            raise TransientError(f"esplora POST /txs/package: HTTP {status}: {reason}")
        try:
            parsed = _PackageAnswer.model_validate_json(answer)
        except PydanticValidationError as exc:
            raise ValidationError(f"esplora POST /txs/package: unexpected response: {exc}") from exc
        return _package_result(parsed, txs)

    async def tx_status(self, txid: str) -> TxStatus | None:
        path = f"/tx/{_check_txid(txid)}/status"
        status = await self._get_json(path, TypeAdapter(_Status), allow_missing=True)
        return None if status is None else status.to_domain()

    async def confirmations(self, txid: str) -> int:
        status = await self.tx_status(txid)
        if status is None or not status.confirmed:
            return 0
        return confirmations_from(status, await self.tip_height())

    async def raw_transaction(self, txid: str) -> bytes | None:
        body = await self._get(f"/tx/{_check_txid(txid)}/raw", allow_missing=True)
        if body is None:
            return None
        try:
            tx = Transaction.parse(body)
        except (DecodeError, ValueError) as exc:
            raise ValidationError(f"esplora: undecodable transaction {txid}: {exc}") from exc
        if tx.txid_hex() != txid:
            raise ValidationError(f"esplora returned a different transaction for {txid}")
        return body

    async def output_spend(self, txid: str, vout: int) -> OutputSpend | None:
        if not 0 <= vout <= 0xFFFF_FFFF:
            raise ValidationError(f"bad output index {vout}")
        path = f"/tx/{_check_txid(txid)}/outspend/{vout}"
        spend = await self._get_json(path, TypeAdapter(_Outspend), allow_missing=True)
        if spend is None:
            return None
        return OutputSpend(
            spent=spend.spent,
            txid=spend.txid,
            vin=spend.vin,
            status=None if spend.status is None else spend.status.to_domain(),
        )

    async def output_spends(self, txid: str) -> list[OutputSpend]:
        """Spend status of every output of ``txid`` (empty if unknown)."""
        path = f"/tx/{_check_txid(txid)}/outspends"
        spends = await self._get_json(path, _OUTSPENDS, allow_missing=True)
        return [
            OutputSpend(s.spent, s.txid, s.vin, None if s.status is None else s.status.to_domain())
            for s in spends or []
        ]

    async def _block_at(self, height: int) -> _Block:
        blocks = await self._get_json(f"/blocks/{height}", _BLOCKS)
        if not blocks or blocks[0].height != height:
            raise ValidationError(f"esplora: no block summary for height {height}")
        block: _Block = blocks[0]
        return block

    async def block_time_at_depth(self, depth: int = 6) -> int:
        if depth < 1:
            raise ValueError("depth starts at 1 (the tip)")
        tip = await self.tip_height()
        return (await self._block_at(max(tip - depth + 1, 0))).timestamp

    async def median_time_past(self) -> int:
        block = await self._block_at(await self.tip_height())
        if block.mediantime is None:
            raise ValidationError("esplora: block summary without mediantime")
        return block.mediantime

    async def fee_estimates(self) -> dict[int, float]:
        raw: dict[str, float] = await self._get_json("/fee-estimates", _FEES)
        estimates: dict[int, float] = {}
        for key, rate in raw.items():
            with contextlib.suppress(ValidationError):
                target = decimal_int(key, "fee estimate target", high=10_000)
                if target > 0 and 0 < rate < 1_000_000:
                    estimates[target] = rate
        return estimates


def _package_result(answer: _PackageAnswer, txs: Sequence[Transaction]) -> PackageResult:
    """The domain result, in package order; every submitted transaction must be reported."""
    results = []
    for tx in txs:
        wtxid, txid = tx.wtxid_hex(), tx.txid_hex()
        entry = answer.tx_results.get(wtxid)
        if entry is None and answer.package_msg != "success":
            # A package-wide refusal may come without per-transaction results.
            results.append(PackageTxResult(txid, wtxid, answer.package_msg))
            continue
        if entry is None or entry.txid != txid:
            raise ValidationError(f"esplora POST /txs/package: no result for transaction {txid}")
        fee = effective = None
        if entry.fees is not None:
            fee = round(entry.fees.base * SATS_PER_BTC)
            if entry.fees.effective_feerate is not None:
                effective = round(entry.fees.effective_feerate * SATS_PER_BTC) / 1000
        error = entry.error
        if error is None and entry.fees is None and entry.other_wtxid is None:
            error = "no result"
        results.append(PackageTxResult(txid, wtxid, error, entry.vsize, fee, effective))
    return PackageResult(answer.package_msg, tuple(results), tuple(answer.replaced_transactions))


def _snippet(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", errors="replace").strip() or "(empty)"
