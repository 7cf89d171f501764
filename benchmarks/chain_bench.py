"""Devnet chain throughput over its HTTP API on 127.0.0.1 (a separate server process).

Prints blocks per second mined empty and with 500 transactions each (every block validated by
libbitcoinkernel and indexed), and the latency of ``POST /tx`` (mempool acceptance: policy
checks, kernel script verification, journal write).

    .venv/bin/python benchmarks/chain_bench.py [--empty-blocks N] [--rounds R] [--txs T]
"""

from __future__ import annotations

import argparse
import secrets
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from devnet.chain.faucet import FaucetKey
from devnet.launcher import ServiceProcess, service_spec
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut

FEE = 500
OUTPUT_VALUE = 20_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bench:
    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=120.0)
        self.auth = {"Authorization": f"Bearer {token}"}

    def mine(self, blocks: int) -> None:
        response = self.http.post("/devnet/mine", json={"blocks": blocks}, headers=self.auth)
        response.raise_for_status()

    def faucet(self, script: bytes, sats: int) -> OutPoint:
        response = self.http.post(
            "/devnet/faucet", json={"script": script.hex(), "sats": sats}, headers=self.auth
        )
        response.raise_for_status()
        return OutPoint.from_display(response.json()["txid"], response.json()["vout"])

    def broadcast(self, tx: Transaction) -> float:
        start = time.perf_counter()
        response = self.http.post("/tx", content=tx.hex())
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"POST /tx refused: {response.text}")
        return elapsed


def fan_out(bench: Bench, key: FaucetKey, count: int) -> list[tuple[OutPoint, TxOut]]:
    """``count`` confirmed outputs of ``key``, made by one transaction."""
    total = count * OUTPUT_VALUE + 10 * FEE * count
    funding = bench.faucet(key.script_pubkey, total)
    bench.mine(1)
    outputs = [TxOut(OUTPUT_VALUE, key.script_pubkey) for _ in range(count)]
    tx = key.sign(Transaction(2, [TxIn(funding)], outputs), [TxOut(total, key.script_pubkey)])
    bench.broadcast(tx)
    bench.mine(1)
    return [(tx.outpoint(i), out) for i, out in enumerate(outputs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--empty-blocks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--txs", type=int, default=500)
    args = parser.parse_args()
    if not (1 <= args.empty_blocks <= 1000 and 1 <= args.rounds <= 10 and 1 <= args.txs <= 2000):
        parser.error("bounded run: empty-blocks ≤ 1000, rounds ≤ 10, txs ≤ 2000")

    with tempfile.TemporaryDirectory() as tmp:
        token = secrets.token_hex(16)
        extra = ["--log-level", "warning"]
        process = ServiceProcess(
            service_spec("chain"), free_port(), Path(tmp) / "chain", token, extra
        )
        start = time.perf_counter()
        process.start(timeout=60)
        print(f"devnet chain started (101 blocks) in {time.perf_counter() - start:.2f} s")
        try:
            run(Bench(process.url, token), args.empty_blocks, args.rounds, args.txs)
        finally:
            process.stop()


def run(bench: Bench, empty_blocks: int, rounds: int, txs: int) -> None:
    start = time.perf_counter()
    bench.mine(empty_blocks)
    elapsed = time.perf_counter() - start
    print(f"empty blocks:         {empty_blocks / elapsed:8.1f} blocks/s  ({empty_blocks} blocks)")

    key = FaucetKey(secrets.token_bytes(32))
    latencies: list[float] = []
    block_times: list[float] = []
    for _ in range(rounds):
        coins = fan_out(bench, key, txs)
        spends = [
            key.sign(
                Transaction(2, [TxIn(outpoint)], [TxOut(out.value - FEE, key.script_pubkey)]),
                [out],
            )
            for outpoint, out in coins
        ]
        latencies.extend(bench.broadcast(tx) for tx in spends)
        start = time.perf_counter()
        bench.mine(1)
        block_times.append(time.perf_counter() - start)
    per_block = statistics.mean(block_times)
    print(f"blocks of {txs} txs:   {1 / per_block:8.1f} blocks/s  ({per_block * 1000:.0f} ms each)")
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    print(
        f"POST /tx acceptance:  mean {statistics.mean(latencies) * 1000:.2f} ms, "
        f"median {statistics.median(latencies) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms "
        f"({len(latencies)} txs, {len(latencies) / sum(latencies):.0f} tx/s sequential)"
    )


if __name__ == "__main__":
    main()
