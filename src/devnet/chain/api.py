"""HTTP routes: the Esplora REST subset, and the ``/devnet`` control API (bearer token).

Module-level routers; handlers get the running chain through dependencies (``Chain``,
``Queries``) and their path parameters already parsed (``Block``, ``Tx``, ``Txid``, ``Script``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, model_validator

from coordinator_core.validation import MAX_MONEY_SAT, MAX_UINT32, is_hex
from devnet.chain.automine import Autominer
from devnet.chain.chain import (
    BlockRejectedError,
    ClockError,
    DevnetChain,
    FaucetError,
    TxLookup,
)
from devnet.chain.index import BlockInfo, scripthash
from devnet.chain.package import MAX_PACKAGE_COUNT, PackageRpcError
from devnet.chain.policy import COIN, MAX_FEE_RATE_PER_KVB, TxRejectedError
from devnet.chain.queries import BLOCK_TXS_PAGE, EsploraQueries, TooManyError
from devnet.chain.views import block_json, status_json, tx_json
from devnet.common import require_devnet_token, validation_message
from ticketdlc.bitcoin.address import AddressError, address_to_script_pubkey

MAX_TX_HEX_CHARS: Final = 800_000  # 400 kB: the standard transaction size limit
MAX_BLOCKS_PER_REQUEST: Final = 1000
MAX_EXPLICIT_TXS: Final = 1000
MAX_HEIGHT: Final = 2**31
MIN_AUTOMINE_SECS: Final = 0.1
#: No block holds more transactions than fit its weight (4 MWU / 240 WU per minimal tx).
MAX_BLOCK_TXS: Final = 4_000_000 // 240
REGTEST_HRP: Final = "bcrt"
ADDRESS_PREFIX: Final = "/address"
SCRIPTHASH_PREFIX: Final = "/scripthash"


def _text(body: str, status: int = 200) -> PlainTextResponse:
    return PlainTextResponse(body, status_code=status)


def _hash_param(value: str, what: str) -> bytes:
    """A 64-hex txid/block hash from the URL, in internal byte order."""
    if not is_hex(value, 32):
        raise HTTPException(400, f"Invalid {what}")
    return bytes.fromhex(value)[::-1]


def _script_of_address(address: str) -> bytes:
    try:
        return address_to_script_pubkey(address, REGTEST_HRP)
    except AddressError as exc:
        raise HTTPException(400, f"Invalid Bitcoin address: {exc}") from exc


def _scripthash_param(value: str) -> bytes:
    if not is_hex(value, 32):
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


# -- dependencies -------------------------------------------------------------------------------


def _chain(request: Request) -> DevnetChain:
    chain: DevnetChain = request.app.state.chain
    return chain


def _autominer(request: Request) -> Autominer:
    autominer: Autominer = request.app.state.autominer
    return autominer


def _queries(chain: Annotated[DevnetChain, Depends(_chain)]) -> EsploraQueries:
    return EsploraQueries(chain)


Chain = Annotated[DevnetChain, Depends(_chain)]
Queries = Annotated[EsploraQueries, Depends(_queries)]


def _block(block_hash: str, queries: Queries) -> BlockInfo:
    block = queries.block(_hash_param(block_hash, "block hash"))
    if block is None:
        raise HTTPException(404, "Block not found")
    return block


def _txid(txid: str) -> bytes:
    return _hash_param(txid, "txid")


def _tx(txid: Annotated[bytes, Depends(_txid)], queries: Queries) -> TxLookup:
    found = queries.tx(txid)
    if found is None:
        raise HTTPException(404, "Transaction not found")
    return found


@dataclass(frozen=True)
class ScriptKey:
    """The script a ``/address/{key}`` or ``/scripthash/{key}`` route is about."""

    address: str | None  # set on the address routes
    digest: bytes  # Electrum-style scripthash


def _script_key(request: Request, key: str) -> ScriptKey:
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and route.path_format.startswith(ADDRESS_PREFIX + "/"):
        return ScriptKey(key, scripthash(_script_of_address(key)))
    return ScriptKey(None, _scripthash_param(key))


Block = Annotated[BlockInfo, Depends(_block)]
Txid = Annotated[bytes, Depends(_txid)]
Tx = Annotated[TxLookup, Depends(_tx)]
Script = Annotated[ScriptKey, Depends(_script_key)]
Height = Annotated[int, Path(ge=0, le=MAX_HEIGHT)]
TxIndex = Annotated[int, Path(ge=0, le=MAX_BLOCK_TXS)]

# -- Esplora ------------------------------------------------------------------------------------

esplora = APIRouter()
"""Esplora's REST routes as BDK's Esplora client and the coordinator use them."""


@esplora.get("/blocks/tip/height")
def tip_height(queries: Queries) -> PlainTextResponse:
    return _text(str(queries.tip().height))


@esplora.get("/blocks/tip/hash")
def tip_hash(queries: Queries) -> PlainTextResponse:
    return _text(queries.tip().hash_hex)


@esplora.get("/blocks")
def recent_blocks(queries: Queries) -> list[dict[str, Any]]:
    return queries.blocks(None)


@esplora.get("/blocks/{start_height}")
def blocks_from(start_height: Height, queries: Queries) -> list[dict[str, Any]]:
    return queries.blocks(start_height)


@esplora.get("/block-height/{height}")
def block_at_height(height: Height, queries: Queries) -> PlainTextResponse:
    block = queries.block_at(height)
    if block is None:
        raise HTTPException(404, "Block not found")
    return _text(block.hash_hex)


@esplora.get("/block/{block_hash}")
def block(block: Block) -> dict[str, Any]:
    return block_json(block)


@esplora.get("/block/{block_hash}/header")
def block_header(block: Block) -> PlainTextResponse:
    return _text(block.header.hex())


@esplora.get("/block/{block_hash}/status")
def block_status(block_hash: str, queries: Queries) -> dict[str, Any]:
    found = queries.block(_hash_param(block_hash, "block hash"))
    if found is None:
        return {"in_best_chain": False}
    return {"in_best_chain": True, "height": found.height, "next_best": queries.next_best(found)}


@esplora.get("/block/{block_hash}/txids")
def block_txids(block: Block, queries: Queries) -> list[str]:
    return queries.block_txids(block)


@esplora.get("/block/{block_hash}/txid/{index}")
def block_txid(block: Block, index: TxIndex, queries: Queries) -> PlainTextResponse:
    txids = queries.block_txids(block)
    if index >= len(txids):
        raise HTTPException(404, "Transaction not found")
    return _text(txids[index])


@esplora.get("/block/{block_hash}/txs")
def block_txs(block: Block, queries: Queries) -> list[dict[str, Any]]:
    return queries.block_txs(block, 0)


@esplora.get("/block/{block_hash}/txs/{start_index}")
def block_txs_from(block: Block, start_index: TxIndex, queries: Queries) -> list[dict[str, Any]]:
    if start_index % BLOCK_TXS_PAGE:
        raise HTTPException(400, f"start index must be a multiple of {BLOCK_TXS_PAGE}")
    return queries.block_txs(block, start_index)


@esplora.get("/block/{block_hash}/raw")
def block_raw(block: Block, queries: Queries) -> Response:
    return Response(queries.raw_block(block), media_type="application/octet-stream")


@esplora.get("/tx/{txid}")
def tx(found: Tx) -> dict[str, Any]:
    return tx_json(found)


@esplora.get("/tx/{txid}/hex")
def tx_hex(found: Tx) -> PlainTextResponse:
    return _text(found.ctx.raw.hex())


@esplora.get("/tx/{txid}/raw")
def tx_raw(found: Tx) -> Response:
    return Response(found.ctx.raw, media_type="application/octet-stream")


@esplora.get("/tx/{txid}/status")
def tx_status(found: Tx) -> dict[str, Any]:
    return status_json(found.block)


@esplora.get("/tx/{txid}/outspends")
def tx_outspends(txid: Txid, queries: Queries) -> list[dict[str, Any]]:
    spends = queries.outspends(txid)
    if spends is None:
        raise HTTPException(404, "Transaction not found")
    return spends


@esplora.get("/tx/{txid}/outspend/{vout}")
def tx_outspend(
    txid: Txid, vout: Annotated[int, Path(ge=0, le=MAX_UINT32)], queries: Queries
) -> dict[str, Any]:
    spend = queries.outspend(txid, vout)
    if spend is None:
        raise HTTPException(404, "Transaction not found")
    return spend


@esplora.get("/tx/{txid}/merkle-proof")
def tx_merkle_proof(txid: Txid, queries: Queries) -> dict[str, Any]:
    proof = queries.merkle_proof(txid)
    if proof is None:
        raise HTTPException(404, "Transaction not found")
    return proof


@esplora.post("/tx")
async def broadcast(request: Request, chain: Chain) -> PlainTextResponse:
    body = (await request.body()).strip()
    if len(body) > MAX_TX_HEX_CHARS or not is_hex(body.decode("ascii", "replace")):
        return _rpc_error(TxRejectedError("TX decode failed"))
    try:
        txid = await run_in_threadpool(chain.submit_transaction, bytes.fromhex(body.decode()))
    except TxRejectedError as exc:
        return _rpc_error(exc)
    return _text(txid)


MIN_PACKAGE_TX_HEX: Final = 120  # Esplora's pre-check: at least 60 bytes per transaction
MAX_FEE_RATE_BTC_PER_KVB: Final = 1.0  # submitpackage refuses a higher maxfeerate


def _package_error(exc: PackageRpcError) -> PlainTextResponse:
    return _text(
        "submitpackage RPC error: " + json.dumps({"code": exc.code, "message": exc.message}), 400
    )


def _package_body(body: bytes) -> list[bytes]:
    """Esplora's pre-checks of ``POST /txs/package``: a JSON array of transaction hex."""
    try:
        items = json.loads(body)
    except ValueError as exc:
        raise HTTPException(400, f"invalid JSON body: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise HTTPException(400, "the body must be a JSON array of transaction hex strings")
    if len(items) > MAX_PACKAGE_COUNT:
        raise HTTPException(400, f"Exceeded maximum of {MAX_PACKAGE_COUNT} transactions")
    for index, item in enumerate(items):
        if not MIN_PACKAGE_TX_HEX <= len(item) < MAX_TX_HEX_CHARS:
            raise HTTPException(400, f"Invalid transaction size for item {index}")
        if not is_hex(item):
            raise HTTPException(400, f"Invalid transaction hex for item {index}")
    return [bytes.fromhex(item) for item in items]


def _btc_amount(value: float | None, default: int, what: str, maximum: float) -> int:
    if value is None:
        return default
    if not 0 <= value <= maximum:
        raise HTTPException(400, f"Invalid {what}")
    return round(value * COIN)


@esplora.post("/txs/package")
async def broadcast_package(
    request: Request,
    chain: Chain,
    maxfeerate: Annotated[float | None, Query()] = None,
    maxburnamount: Annotated[float | None, Query()] = None,
) -> Response:
    """Bitcoin Core's ``submitpackage`` result, or its RPC error as Esplora relays it.

    ``maxfeerate`` is in BTC/kvB (default 0.1; 0 disables the check), ``maxburnamount`` in
    BTC (default 0).
    """
    if not chain.package_relay:
        raise HTTPException(404, 'endpoint does not exist "/txs/package"')
    raws = _package_body(await request.body())
    fee_rate = _btc_amount(maxfeerate, MAX_FEE_RATE_PER_KVB, "maxfeerate", MAX_FEE_RATE_BTC_PER_KVB)
    burn = _btc_amount(maxburnamount, 0, "maxburnamount", MAX_MONEY_SAT / COIN)
    try:
        result = await run_in_threadpool(chain.submit_package, raws, fee_rate or None, burn)
    except PackageRpcError as exc:
        return _package_error(exc)
    return JSONResponse(result.to_json())


# ``/address/{address}…`` and ``/scripthash/{hash}…`` answer the same queries.
def _script_routes(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        for prefix in (ADDRESS_PREFIX, SCRIPTHASH_PREFIX):
            esplora.add_api_route(prefix + "/{key}" + path, handler, methods=["GET"])
        return handler

    return register


@_script_routes("")
def script_stats(script: Script, queries: Queries) -> dict[str, Any]:
    result = queries.stats(script.digest)
    return result if script.address is None else {"address": script.address, **result}


@_script_routes("/txs")
def script_txs(script: Script, queries: Queries) -> list[dict[str, Any]]:
    return queries.history(script.digest, None, include_mempool=True)


@_script_routes("/txs/chain")
def script_txs_chain(script: Script, queries: Queries) -> list[dict[str, Any]]:
    return queries.history(script.digest, None, include_mempool=False)


@_script_routes("/txs/chain/{last_seen}")
def script_txs_chain_after(
    script: Script, last_seen: str, queries: Queries
) -> list[dict[str, Any]]:
    try:
        return queries.history(script.digest, _hash_param(last_seen, "txid"), include_mempool=False)
    except KeyError as exc:
        raise HTTPException(400, "last seen txid is not a confirmed transaction") from exc


@_script_routes("/txs/mempool")
def script_txs_mempool(script: Script, queries: Queries) -> list[dict[str, Any]]:
    return queries.mempool_history(script.digest)


@_script_routes("/utxo")
def script_utxo(script: Script, queries: Queries) -> list[dict[str, Any]]:
    try:
        return queries.utxos(script.digest)
    except TooManyError as exc:
        raise HTTPException(400, str(exc)) from exc


@esplora.get("/mempool")
def mempool(queries: Queries) -> dict[str, Any]:
    return queries.mempool_summary()


@esplora.get("/mempool/txids")
def mempool_txids(queries: Queries) -> list[str]:
    return queries.mempool_txids()


@esplora.get("/mempool/recent")
def mempool_recent(queries: Queries) -> list[dict[str, Any]]:
    return queries.mempool_recent()


@esplora.get("/fee-estimates")
def fee_estimates(chain: Chain) -> dict[str, float]:
    return {str(t): rate for t, rate in sorted(chain.fee_estimates().items())}


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
    sats: int = Field(ge=1, le=MAX_MONEY_SAT)

    @model_validator(mode="after")
    def _one_destination(self) -> FaucetRequest:
        if (self.address is None) == (self.script is None):
            raise ValueError("give exactly one of address and script")
        return self


class TimeRequest(_Body):
    unix: int = Field(ge=0, lt=2**32)


class AutomineRequest(_Body):
    interval_secs: float = Field(ge=0, le=86_400)

    @model_validator(mode="after")
    def _off_or_sane(self) -> AutomineRequest:
        if 0 < self.interval_secs < MIN_AUTOMINE_SECS:
            raise ValueError(f"interval_secs must be 0 (off) or at least {MIN_AUTOMINE_SECS}")
        return self


class FeeEstimatesRequest(_Body):
    estimates: dict[
        Annotated[int, Field(ge=1, le=10_000)], Annotated[float, Field(gt=0, lt=1e6)]
    ] = Field(max_length=100)


class PackageRelayRequest(_Body):
    enabled: bool


class MinFeeRateRequest(_Body):
    sat_per_vb: float = Field(ge=0, lt=1e6)
    mempool: bool = True


def _destination(address: str | None, script: str | None) -> bytes | None:
    if address is not None:
        return _script_of_address(address)
    return None if script is None else bytes.fromhex(script)


control = APIRouter(prefix="/devnet", dependencies=[Depends(require_devnet_token)])
"""``/devnet/*``: mine, faucet, clock, automine, fee estimates, fee floors (bearer token)."""


@control.post("/mine")
def mine(body: MineRequest, chain: Chain) -> list[str]:
    script = _destination(body.address, body.script)
    raw = None if body.transactions is None else [bytes.fromhex(t) for t in body.transactions]
    try:
        return chain.mine(body.blocks, script, raw)
    except BlockRejectedError as exc:
        raise HTTPException(400, f"block rejected: {exc}") from exc
    except ValueError as exc:
        raise HTTPException(400, f"cannot build the block: {exc}") from exc


@control.post("/faucet")
def faucet(body: FaucetRequest, chain: Chain) -> dict[str, Any]:
    script = _destination(body.address, body.script)
    assert script is not None
    try:
        txid, vout = chain.faucet(script, body.sats)
    except (FaucetError, TxRejectedError) as exc:
        raise HTTPException(400, str(exc)) from exc
    return {"txid": txid, "vout": vout}


@control.post("/time")
def set_time(body: TimeRequest, chain: Chain) -> dict[str, int]:
    try:
        chain.set_time(body.unix)
    except ClockError as exc:
        raise HTTPException(400, str(exc)) from exc
    return {"next_block_time": chain.next_block_time()}


@control.post("/automine")
def automine(
    body: AutomineRequest, autominer: Annotated[Autominer, Depends(_autominer)]
) -> dict[str, float]:
    autominer.set_interval(body.interval_secs)
    return {"interval_secs": autominer.interval_secs}


@control.post("/fee-estimates")
def set_fee_estimates(body: FeeEstimatesRequest, chain: Chain) -> dict[str, float]:
    chain.set_fee_estimates(dict(body.estimates))
    return {str(t): r for t, r in sorted(chain.fee_estimates().items())}


@control.post("/min-fee-rate")
def set_min_fee_rate(body: MinFeeRateRequest, chain: Chain) -> dict[str, float]:
    """Fee spike: the miner's minimum package fee rate and (``mempool``) the mempool's."""
    return chain.set_min_fee_rate(body.sat_per_vb, body.mempool).to_json()


@control.post("/package-relay")
def set_package_relay(body: PackageRelayRequest, chain: Chain) -> dict[str, bool]:
    """Serve ``POST /txs/package`` or answer 404 like an Esplora without package relay."""
    chain.package_relay = body.enabled
    return {"enabled": chain.package_relay}


def install_error_handlers(app: FastAPI) -> None:
    """Esplora answers errors as plain text; so do the devnet routes."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return PlainTextResponse(f"invalid request: {validation_message(exc)}", status_code=400)
