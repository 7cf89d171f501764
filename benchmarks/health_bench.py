"""Latency of the coordinator's health check under concurrent probes from loopback.

Starts a devnet chain and ``coordinator serve`` (separate processes, test profile, fresh data
folder), then sends rounds of 50 concurrent ``GET /api/v1/health_check`` over 50 keep-alive
connections and prints the p50, p99 and maximum latency over every request, and the rate.

    .venv/bin/python benchmarks/health_bench.py [--concurrency 50] [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devnet.launcher import ServiceProcess, service_spec, stop_process, wait_http_ready

REPO = Path(__file__).resolve().parents[1]
HEALTH = "/api/v1/health_check"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_coordinator(folder: Path, chain_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "COORDINATOR__API__PORT": str(port),
        "COORDINATOR__ADMIN__PORT": str(free_port()),
        "COORDINATOR__ADMIN__TOKEN_FILE": str(folder / "creds" / "admin_token"),
        "COORDINATOR__DB__DATA_FOLDER": str(folder / "data"),
        "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(folder / "creds" / "key.pem"),
        "COORDINATOR__BITCOIN__STORAGE_FILE": str(folder / "data" / "bitcoin.db"),
        "COORDINATOR__BITCOIN__ESPLORA_URL": chain_url,
        "COORDINATOR__LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "coordinator", "-c", str(REPO / "config/e2e.toml"), "serve"]
    return subprocess.Popen(command, env=env, cwd=folder)


class Connection:
    """A keep-alive HTTP/1.1 connection sending one GET at a time (a minimal client, so the
    figures measure the server rather than a client library's overhead)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, path: str) -> float:
        """Seconds until the whole response arrived; raises unless it is a 200."""
        start = time.perf_counter()
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        elapsed = time.perf_counter() - start
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"health check answered {head.splitlines()[0]!r}")
        return elapsed

    def close(self) -> None:
        self.writer.close()


async def probe_rounds(port: int, concurrency: int, rounds: int) -> tuple[list[float], float]:
    """Latency of every probe (seconds) and the wall time of all rounds."""
    connections = [await Connection.open(port) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(c.get(HEALTH) for c in connections))  # warm up
        latencies: list[float] = []
        began = time.perf_counter()
        for _ in range(rounds):
            latencies += await asyncio.gather(*(c.get(HEALTH) for c in connections))
        return latencies, time.perf_counter() - began
    finally:
        for connection in connections:
            connection.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        chain = ServiceProcess(
            service_spec("chain"), free_port(), folder / "chain", secrets.token_hex(8)
        ).start()
        port = free_port()
        coordinator = start_coordinator(folder, chain.url, port)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http_ready(url + HEALTH, coordinator, timeout=60)
            latencies, wall = asyncio.run(probe_rounds(port, args.concurrency, args.rounds))
        finally:
            stop_process(coordinator)
            chain.stop()
    ms = [value * 1000 for value in latencies]
    print(
        f"health check, {args.concurrency} concurrent x {args.rounds} rounds "
        f"({len(ms)} requests): p50 {percentile(ms, 0.50):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms, "
        f"mean {statistics.fmean(ms):.1f} ms, {len(ms) / wall:.0f} requests/s"
    )


if __name__ == "__main__":
    main()
