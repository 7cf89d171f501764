"""Lightning client + devnet throughput and latency, on loopback.

Starts its own devnet Lightning server (temporary data folder, free 127.0.0.1 port) and drives
it through the production LND REST client:

* hold-invoice round trips: coordinator creates a hold invoice, the player pays, the coordinator
  sees ACCEPTED on its invoice stream and settles, the player's payment returns SUCCEEDED;
  sequentially and with several in parallel;
* payout latency: the coordinator pays a player's invoice (``send_payment`` until SUCCEEDED).

Bounded: fixed counts and a wall-clock cap per phase.
Usage: ``.venv/bin/python benchmarks/lightning_bench.py [--round-trips N] [--payouts N]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

from coordinator.adapters.lightning import LndRestClient
from coordinator.domain.ports.lightning import InvoiceState, PaymentStatus
from devnet.launcher import ServiceProcess, service_spec
from devnet.lightning.control import LightningDevnetControl

TOKEN = "lightning-bench-token"
ENTRY_SATS = 5_000
PHASE_CAP_SECS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AcceptedWatcher:
    """Resolves a future per payment hash when the coordinator's stream reports ACCEPTED."""

    def __init__(self, client: LndRestClient) -> None:
        self._waiting: dict[bytes, asyncio.Future[None]] = {}
        self._task = asyncio.create_task(self._run(client))

    async def _run(self, client: LndRestClient) -> None:
        async for invoice in client.subscribe_invoices():
            future = self._waiting.pop(invoice.payment_hash, None)
            if invoice.state is InvoiceState.HELD and future is not None:
                future.set_result(None)
            elif future is not None:
                self._waiting[invoice.payment_hash] = future

    def expect(self, payment_hash: bytes) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[payment_hash] = future
        return future

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def round_trip(
    coordinator: LndRestClient, player: LndRestClient, watcher: AcceptedWatcher
) -> float:
    start = time.perf_counter()
    preimage = os.urandom(32)
    payment_hash = hashlib.sha256(preimage).digest()
    accepted = watcher.expect(payment_hash)
    created = await coordinator.create_hold_invoice(payment_hash, ENTRY_SATS * 1000, 600)
    paying = asyncio.create_task(
        player.send_payment(
            created.payment_request,
            amount_msat=ENTRY_SATS * 1000,
            fee_limit_msat=100 * 1000,
            timeout_secs=30,
        )
    )
    await asyncio.wait_for(accepted, 30)
    await coordinator.settle_invoice(preimage)
    payment = await paying
    assert payment.status is PaymentStatus.SUCCEEDED and payment.preimage == preimage
    return time.perf_counter() - start


async def hold_invoice_phase(
    coordinator: LndRestClient, players: list[LndRestClient], count: int, parallel: int
) -> tuple[int, float, list[float]]:
    watcher = AcceptedWatcher(coordinator)
    await asyncio.sleep(0.5)  # let the stream connect
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + PHASE_CAP_SECS

    async def worker(player: LndRestClient, share: int) -> None:
        for _ in range(share):
            if time.perf_counter() > deadline:
                return
            latencies.append(await round_trip(coordinator, player, watcher))

    try:
        await asyncio.gather(*(worker(players[i], count // parallel) for i in range(parallel)))
    finally:
        await watcher.close()
    return len(latencies), time.perf_counter() - started, latencies


async def payout_phase(
    coordinator: LndRestClient, player: LndRestClient, count: int
) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + PHASE_CAP_SECS
    for _ in range(count):
        if time.perf_counter() > deadline:
            break
        invoice = await player.create_invoice(1_000 * 1000, 600)
        start = time.perf_counter()
        payment = await coordinator.send_payment(
            invoice.payment_request,
            amount_msat=1_000 * 1000,
            fee_limit_msat=10 * 1000,
            timeout_secs=30,
        )
        latencies.append(time.perf_counter() - start)
        assert payment.status is PaymentStatus.SUCCEEDED
    return latencies


def describe(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )


async def run(args: argparse.Namespace, service: ServiceProcess) -> None:
    async with LightningDevnetControl(service.url, TOKEN) as control:
        coordinator_node = await control.node("coordinator")
        player_nodes = [
            await control.create_node(f"player{i}", 100_000_000) for i in range(args.parallel)
        ]
    coordinator = LndRestClient(
        coordinator_node.base_url, network="regtest", macaroon=coordinator_node.macaroon
    )
    players = [
        LndRestClient(node.base_url, network="regtest", macaroon=node.macaroon)
        for node in player_nodes
    ]
    try:
        for parallel in (1, args.parallel):
            done, elapsed, latencies = await hold_invoice_phase(
                coordinator, players, args.round_trips, parallel
            )
            print(
                f"hold-invoice round trips, {parallel} in parallel: {done} in {elapsed:.2f} s = "
                f"{done / elapsed:.1f}/s ({describe(latencies)} each)"
            )
        latencies = await payout_phase(coordinator, players[0], args.payouts)
        print(f"payout send_payment latency over {len(latencies)} payments: {describe(latencies)}")
    finally:
        for client in (coordinator, *players):
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--payouts", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        service = ServiceProcess(
            service_spec("lightning"), free_port(), Path(folder), TOKEN, ["--log-level", "warning"]
        )
        with service:
            asyncio.run(run(args, service))


if __name__ == "__main__":
    main()
