"""A client for the devnet Lightning ``/devnet`` control API (tests, benchmarks, tooling)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class DevnetNode:
    """A devnet node and what a client needs to talk to it as an LND node."""

    alias: str
    pubkey: bytes
    base_url: str  # LND REST base URL of the node
    macaroon: bytes
    macaroon_path: Path
    online: bool
    balance_msat: int
    unsettled_local_msat: int
    unsettled_remote_msat: int
    open_streams: int  # LND streams (subscriptions, payments being sent) open on the node


class LightningDevnetControl:
    """Async client of one devnet Lightning server's control API."""

    def __init__(self, url: str, token: str, verify: Any = True) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
            verify=verify,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> LightningDevnetControl:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def create_node(self, alias: str, balance_sats: int) -> DevnetNode:
        body = {"alias": alias, "balance_sats": balance_sats}
        return await self._node("POST", "/devnet/nodes", body)

    async def node(self, alias: str) -> DevnetNode:
        return await self._node("GET", f"/devnet/nodes/{alias}")

    async def nodes(self) -> list[DevnetNode]:
        response = await self._http.get("/devnet/nodes")
        response.raise_for_status()
        return [self._parse(item) for item in response.json()]

    async def set_online(self, alias: str, online: bool) -> DevnetNode:
        action = "online" if online else "offline"
        return await self._node("POST", f"/devnet/nodes/{alias}/{action}")

    async def fail_next_payment(
        self, alias: str, reason: str = "FAILURE_REASON_NO_ROUTE"
    ) -> DevnetNode:
        path = f"/devnet/nodes/{alias}/fail-next-payment"
        return await self._node("POST", path, {"reason": reason})

    async def _node(self, method: str, path: str, body: dict[str, Any] | None = None) -> DevnetNode:
        response = await self._http.request(method, path, json=body)
        response.raise_for_status()
        return self._parse(response.json())

    def _parse(self, item: dict[str, Any]) -> DevnetNode:
        return DevnetNode(
            alias=item["alias"],
            pubkey=bytes.fromhex(item["pubkey"]),
            base_url=self.url + item["base_path"],
            macaroon=bytes.fromhex(item["macaroon_hex"]),
            macaroon_path=Path(item["macaroon_path"]),
            online=item["online"],
            balance_msat=item["balance_msat"],
            unsettled_local_msat=item["unsettled_local_msat"],
            unsettled_remote_msat=item["unsettled_remote_msat"],
            open_streams=item["open_streams"],
        )
