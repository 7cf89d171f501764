"""HTTP routes: the Esplora REST subset, and the ``/devnet`` control API (bearer token)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from devnet.chain.automine import Autominer
from devnet.chain.chain import BlockRejectedError, ClockError, DevnetChain, FaucetError
from devnet.chain.index import BlockInfo, scripthash
from devnet.chain.policy import TxRejectedError
from devnet.chain.queries import BLOCK_TXS_PAGE, EsploraQueries, TooManyError
from devnet.chain.views import block_json, status_json, tx_json
from devnet.common import bearer_token_guard
from ticketdlc.bitcoin.address import AddressError, address_to_script_pubkey

MAX_TX_HEX_CHARS: Final = 800_000  # 400 kB: the standard transaction size limit
MAX_BLOCKS_PER_REQUEST: Final = 1000
MAX_EXPLICIT_TXS: Final = 1000
REGTEST_HRP: Final = "bcrt"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")


def _text(body: str, status: int = 200) -> PlainTextResponse:
    return PlainTextResponse(body, status_code=status)


def _hash_param(value: str, what: str) -> bytes:
    """A 64-hex txid/block hash from the URL, in internal byte order."""
    if not _HEX64.match(value):
        raise HTTPException(400, f"Invalid {what}")
    return bytes.fromhex(value)[::-1]


def _script_of_address(address: str) -> bytes:
    try:
        return address_to_script_pubkey(address, REGTEST_HRP)
    except AddressError as exc:
        raise HTTPException(400, f"Invalid Bitcoin address: {exc}") from exc


def _scripthash_param(value: str) -> bytes:
    if not _HEX64.match(value):
        raise HTTPException(400, "Invalid scripthash")
    return bytes.fromhex(value)


_RPC_CODES: Final = {
    "TX decode failed": -22,
    "bad-txns-inputs-missingorspent": -25,
    "max-fee-exceeded": -25,
    "txn-already-known": -27,
}


def _rpc_error(exc: TxRejectedError) -> PlainTextResponse:
    """Esplora relays bitcoind's error: ``sendrawtransaction RPC error: {"code":…}``."""
    code = _RPC_CODES.get(exc.reason, -26)
    return _text(
        "sendrawtransaction RPC error: " + json.dumps({"code": code, "message": str(exc)}), 400
    )


def esplora_router(queries: EsploraQueries) -> APIRouter:
    """Esplora's REST routes as BDK's Esplora client and the coordinator use them."""
    router = APIRouter()

    def block_or_404(block_hash: str) -> BlockInfo:
        block = queries.block(_hash_param(block_hash, "block hash"))
        if block is None:
            raise HTTPException(404, "Block not found")
        return block

    @router.get("/blocks/tip/height")
    def tip_height() -> PlainTextResponse:
        return _text(str(queries.tip().height))

    @router.get("/blocks/tip/hash")
    def tip_hash() -> PlainTextResponse:
        return _text(queries.tip().hash_hex)

    @router.get("/blocks")
    def recent_blocks() -> list[dict[str, Any]]:
        return queries.blocks(None)

    @router.get("/blocks/{start_height}")
    def blocks_from(start_height: Annotated[int, Path(ge=0, le=2**31)]) -> list[dict[str, Any]]:
        return queries.blocks(start_height)

    @router.get("/block-height/{height}")
    def block_at_height(height: Annotated[int, Path(ge=0, le=2**31)]) -> PlainTextResponse:
        block = queries.block_at(height)
        if block is None:
            raise HTTPException(404, "Block not found")
        return _text(block.hash_hex)

    @router.get("/block/{block_hash}")
    def block(block_hash: str) -> dict[str, Any]:
        return block_json(block_or_404(block_hash))

    @router.get("/block/{block_hash}/header")
    def block_header(block_hash: str) -> PlainTextResponse:
        return _text(block_or_404(block_hash).header.hex())

    @router.get("/block/{block_hash}/status")
    def block_status(block_hash: str) -> dict[str, Any]:
        found = queries.block(_hash_param(block_hash, "block hash"))
        if found is None:
            return {"in_best_chain": False}
        return {
            "in_best_chain": True,
            "height": found.height,
            "next_best": queries.next_best(found),
        }

    @router.get("/block/{block_hash}/txids")
    def block_txids(block_hash: str) -> list[str]:
        return queries.block_txids(block_or_404(block_hash))

    @router.get("/block/{block_hash}/txid/{index}")
    def block_txid(block_hash: str, index: Annotated[int, Path(ge=0)]) -> PlainTextResponse:
        txids = queries.block_txids(block_or_404(block_hash))
        if index >= len(txids):
            raise HTTPException(404, "Transaction not found")
        return _text(txids[index])

    @router.get("/block/{block_hash}/txs")
    def block_txs(block_hash: str) -> list[dict[str, Any]]:
        return queries.block_txs(block_or_404(block_hash), 0)

    @router.get("/block/{block_hash}/txs/{start_index}")
    def block_txs_from(
        block_hash: str, start_index: Annotated[int, Path(ge=0)]
    ) -> list[dict[str, Any]]:
        if start_index % BLOCK_TXS_PAGE:
            raise HTTPException(400, f"start index must be a multiple of {BLOCK_TXS_PAGE}")
        return queries.block_txs(block_or_404(block_hash), start_index)

    @router.get("/block/{block_hash}/raw")
    def block_raw(block_hash: str) -> Response:
        raw = queries.raw_block(block_or_404(block_hash))
        return Response(raw, media_type="application/octet-stream")

    def tx_or_404(txid: str) -> Any:
        found = queries.tx(_hash_param(txid, "txid"))
        if found is None:
            raise HTTPException(404, "Transaction not found")
        return found

    @router.get("/tx/{txid}")
    def tx(txid: str) -> dict[str, Any]:
        return tx_json(tx_or_404(txid))

    @router.get("/tx/{txid}/hex")
    def tx_hex(txid: str) -> PlainTextResponse:
        return _text(tx_or_404(txid).ctx.raw.hex())

    @router.get("/tx/{txid}/raw")
    def tx_raw(txid: str) -> Response:
        return Response(tx_or_404(txid).ctx.raw, media_type="application/octet-stream")

    @router.get("/tx/{txid}/status")
    def tx_status(txid: str) -> dict[str, Any]:
        return status_json(tx_or_404(txid).block)

    @router.get("/tx/{txid}/outspends")
    def tx_outspends(txid: str) -> list[dict[str, Any]]:
        spends = queries.outspends(_hash_param(txid, "txid"))
        if spends is None:
            raise HTTPException(404, "Transaction not found")
        return spends

    @router.get("/tx/{txid}/outspend/{vout}")
    def tx_outspend(txid: str, vout: Annotated[int, Path(ge=0, le=0xFFFF_FFFF)]) -> Any:
        spend = queries.outspend(_hash_param(txid, "txid"), vout)
        if spend is None:
            raise HTTPException(404, "Transaction not found")
        return spend

    @router.get("/tx/{txid}/merkle-proof")
    def tx_merkle_proof(txid: str) -> dict[str, Any]:
        proof = queries.merkle_proof(_hash_param(txid, "txid"))
        if proof is None:
            raise HTTPException(404, "Transaction not found")
        return proof

    @router.post("/tx")
    async def broadcast(request: Request) -> PlainTextResponse:
        body = (await request.body()).strip()
        if len(body) > MAX_TX_HEX_CHARS or not _HEX.match(body.decode("ascii", "replace")):
            return _rpc_error(TxRejectedError("TX decode failed"))
        try:
            txid = await run_in_threadpool(
                queries.chain.submit_transaction, bytes.fromhex(body.decode())
            )
        except TxRejectedError as exc:
            return _rpc_error(exc)
        return _text(txid)

    def script_routes(prefix: str, digest_of: Callable[[str], bytes]) -> None:
        @router.get(f"{prefix}/{{key}}")
        def stats(key: str) -> dict[str, Any]:
            result = queries.stats(digest_of(key))
            return {"address": key, **result} if prefix == "/address" else result

        @router.get(f"{prefix}/{{key}}/txs")
        def txs(key: str) -> list[dict[str, Any]]:
            return queries.history(digest_of(key), None, include_mempool=True)

        @router.get(f"{prefix}/{{key}}/txs/chain")
        def txs_chain(key: str) -> list[dict[str, Any]]:
            return queries.history(digest_of(key), None, include_mempool=False)

        @router.get(f"{prefix}/{{key}}/txs/chain/{{last_seen}}")
        def txs_chain_after(key: str, last_seen: str) -> list[dict[str, Any]]:
            try:
                return queries.history(
                    digest_of(key), _hash_param(last_seen, "txid"), include_mempool=False
                )
            except KeyError as exc:
                raise HTTPException(400, "last seen txid is not a confirmed transaction") from exc

        @router.get(f"{prefix}/{{key}}/txs/mempool")
        def txs_mempool(key: str) -> list[dict[str, Any]]:
            return queries.mempool_history(digest_of(key))

        @router.get(f"{prefix}/{{key}}/utxo")
        def utxo(key: str) -> list[dict[str, Any]]:
            try:
                return queries.utxos(digest_of(key))
            except TooManyError as exc:
                raise HTTPException(400, str(exc)) from exc

    script_routes("/address", lambda address: scripthash(_script_of_address(address)))
    script_routes("/scripthash", _scripthash_param)

    @router.get("/mempool")
    def mempool() -> dict[str, Any]:
        return queries.mempool_summary()

    @router.get("/mempool/txids")
    def mempool_txids() -> list[str]:
        return queries.mempool_txids()

    @router.get("/mempool/recent")
    def mempool_recent() -> list[dict[str, Any]]:
        return queries.mempool_recent()

    @router.get("/fee-estimates")
    def fee_estimates() -> dict[str, float]:
        return {str(t): rate for t, rate in sorted(queries.chain.fee_estimates().items())}

    return router


# -- control API --------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


HexString = Annotated[str, Field(pattern=r"^(?:[0-9a-fA-F]{2})*$", max_length=MAX_TX_HEX_CHARS)]


class MineRequest(_Body):
    blocks: int = Field(1, ge=1, le=MAX_BLOCKS_PER_REQUEST)
    address: str | None = Field(None, max_length=100)
    script: HexString | None = None
    transactions: list[HexString] | None = Field(None, max_length=MAX_EXPLICIT_TXS)

    @model_validator(mode="after")
    def _one_destination(self) -> MineRequest:
        if self.address is not None and self.script is not None:
            raise ValueError("give an address or a script, not both")
        return self


class FaucetRequest(_Body):
    address: str | None = Field(None, max_length=100)
    script: HexString | None = None
    sats: int = Field(ge=1, le=21_000_000 * 100_000_000)

    @model_validator(mode="after")
    def _one_destination(self) -> FaucetRequest:
        if (self.address is None) == (self.script is None):
            raise ValueError("give exactly one of address and script")
        return self


class TimeRequest(_Body):
    unix: int = Field(ge=0, lt=2**32)


class AutomineRequest(_Body):
    interval_secs: float = Field(ge=0, le=86_400)


class FeeEstimatesRequest(_Body):
    estimates: dict[
        Annotated[int, Field(ge=1, le=10_000)], Annotated[float, Field(gt=0, lt=1e6)]
    ] = Field(max_length=100)


def _destination(address: str | None, script: str | None) -> bytes | None:
    if address is not None:
        return _script_of_address(address)
    return None if script is None else bytes.fromhex(script)


def control_router(
    get_chain: Callable[[], DevnetChain], get_autominer: Callable[[], Autominer], token: str
) -> APIRouter:
    """``/devnet/*``: mine, faucet, clock, automine, fee estimates (bearer token required)."""
    router = APIRouter(prefix="/devnet", dependencies=[Depends(bearer_token_guard(token))])

    @router.post("/mine")
    def mine(body: MineRequest) -> list[str]:
        script = _destination(body.address, body.script)
        raw = None if body.transactions is None else [bytes.fromhex(t) for t in body.transactions]
        try:
            return get_chain().mine(body.blocks, script, raw)
        except BlockRejectedError as exc:
            raise HTTPException(400, f"block rejected: {exc}") from exc
        except ValueError as exc:
            raise HTTPException(400, f"cannot build the block: {exc}") from exc

    @router.post("/faucet")
    def faucet(body: FaucetRequest) -> dict[str, Any]:
        script = _destination(body.address, body.script)
        assert script is not None
        try:
            txid, vout = get_chain().faucet(script, body.sats)
        except (FaucetError, TxRejectedError) as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"txid": txid, "vout": vout}

    @router.post("/time")
    def set_time(body: TimeRequest) -> dict[str, int]:
        try:
            get_chain().set_time(body.unix)
        except ClockError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"next_block_time": get_chain().next_block_time()}

    @router.post("/automine")
    def automine(body: AutomineRequest) -> dict[str, float]:
        get_autominer().set_interval(body.interval_secs)
        return {"interval_secs": get_autominer().interval_secs}

    @router.post("/fee-estimates")
    def set_fee_estimates(body: FeeEstimatesRequest) -> dict[str, float]:
        get_chain().set_fee_estimates(dict(body.estimates))
        return {str(t): r for t, r in sorted(get_chain().fee_estimates().items())}

    return router


def install_error_handlers(app: FastAPI) -> None:
    """Esplora answers errors as plain text; so do the devnet routes."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        return PlainTextResponse(f"invalid request: {problems}", status_code=400)
