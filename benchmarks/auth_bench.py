"""Cost of authentication: NIP-98 verification per request, and username login.

* NIP-98: ``verify_auth_header`` on fresh headers (a POST with a 200-byte JSON body) with the
  configured-origin check and the in-memory replay guard, in µs per request; the same gate with
  the API's users.db replay guard (``SqliteReplayGuard``: one write transaction per request
  through the database's writer thread), the guard alone, sequential and 16 concurrent, and
  with two writers on one file (as two processes of a blue/green switch); then authenticated
  requests over loopback HTTP against the real app (``POST /api/v1/users/login``), compared
  with the same request without a header (refused before any work).
* Login: Argon2id verification of a login key (the server's work per attempt), the client's
  scrypt stretch (``coordinator_core.login_keys``), and ``POST /api/v1/users/username/login``
  over HTTP, sequential and 8 concurrent.

    .venv/bin/python benchmarks/auth_bench.py [--requests 2000] [--logins 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import free_port  # noqa: E402
from tests.support.nostr_auth import NostrSigner  # noqa: E402

from coordinator.adapters.sqlite import migrations  # noqa: E402
from coordinator.adapters.sqlite.database import Database  # noqa: E402
from coordinator.adapters.sqlite.replay import SqliteReplayGuard  # noqa: E402
from coordinator.app.auth.accounts import Accounts  # noqa: E402
from coordinator.app.listeners import ListenerGroup  # noqa: E402
from coordinator.config import DbSettings, load_settings  # noqa: E402
from coordinator_core.http_origin import OriginPolicy  # noqa: E402
from coordinator_core.login_keys import derive_login_keys, register_body  # noqa: E402
from coordinator_core.nip98 import MemoryReplayGuard, verify_auth_header  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def quantiles(values: list[float]) -> tuple[float, float]:
    return percentile(values, 0.5), percentile(values, 0.99)


def line(label: str, seconds: list[float], unit: str = "ms") -> None:
    scale = 1e6 if unit == "µs" else 1e3
    low, p50, p99 = (value * scale for value in (min(seconds), *quantiles(seconds)))
    count = len(seconds)
    print(f"  {label:<44} min {low:8.1f}  p50 {p50:8.1f}  p99 {p99:9.1f} {unit}  (n={count})")


def bench_verify(count: int) -> None:
    signer = NostrSigner(secrets.token_bytes(32))
    policy = OriginPolicy.from_config(["http://127.0.0.1:9990", "http://localhost:9990"])
    guard = MemoryReplayGuard()
    body = json.dumps({"encrypted_bitcoin_private_key": "A" * 160, "network": "regtest"}).encode()
    target = "/api/v1/users/register"
    url = "http://127.0.0.1:9990" + target
    headers = [signer.header("POST", url, body) for _ in range(count)]
    times = []
    for header in headers:
        start = time.perf_counter()
        urls = policy.expected_urls("127.0.0.1", {}, target)
        verify_auth_header(header, urls, "POST", body, replay_guard=guard)
        times.append(time.perf_counter() - start)
    print("NIP-98 verification (in process, fresh header each):")
    line("verify_auth_header + origins + replay guard", times, "µs")


async def bench_sqlite_gate(count: int) -> None:
    signer = NostrSigner(secrets.token_bytes(32))
    policy = OriginPolicy.from_config(["http://127.0.0.1:9990", "http://localhost:9990"])
    body = json.dumps({"encrypted_bitcoin_private_key": "A" * 160, "network": "regtest"}).encode()
    target = "/api/v1/users/register"
    url = "http://127.0.0.1:9990" + target
    headers = [signer.header("POST", url, body) for _ in range(count)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "users.db"
        migrations.migrate("users", path)
        databases = [Database("users", path, DbSettings(read_connections=1)) for _ in range(2)]
        for db in databases:
            db.open()
        try:
            guard, other = (SqliteReplayGuard(db, 100_000) for db in databases)
            for i in range(200):  # warm up
                await guard.consume(secrets.token_hex(32), 0, i)
            gate = []
            for header in headers:
                start = time.perf_counter()
                now = int(time.time())
                urls = policy.expected_urls("127.0.0.1", {}, target)
                auth = verify_auth_header(header, urls, "POST", body, now=now)
                assert await guard.consume(auth.event_id, auth.created_at, now)
                gate.append(time.perf_counter() - start)
            alone = []
            for _ in range(count):
                event_id, now = secrets.token_hex(32), int(time.time())
                start = time.perf_counter()
                assert await guard.consume(event_id, now, now)
                alone.append(time.perf_counter() - start)
            print("NIP-98 gate with the users.db replay guard (WAL, synchronous=NORMAL):")
            line("verify + origins + users.db guard", gate, "µs")
            line("users.db guard alone (one write txn)", alone, "µs")
            for label, guards in (
                ("16 concurrent, one writer", [guard]),
                ("16 concurrent, two writers on one file", [guard, other]),
            ):
                ids = [secrets.token_hex(32) for _ in range(count)]
                now = int(time.time())
                start = time.perf_counter()
                for k in range(0, count, 16):
                    await asyncio.gather(
                        *(
                            guards[n % len(guards)].consume(i, now, now)
                            for n, i in enumerate(ids[k : k + 16])
                        )
                    )
                elapsed = time.perf_counter() - start
                print(
                    f"  {'guard, ' + label:<44} {elapsed / count * 1e6:8.1f} µs per "
                    f"event ({count / elapsed:,.0f} events/s)"
                )
        finally:
            for db in databases:
                db.close()


async def bench_http(requests: int, logins: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        api_port = free_port()
        settings = load_settings(
            REPO / "config" / "e2e.toml",
            env={
                "COORDINATOR__LOG_LEVEL": "error",
                "COORDINATOR__DB__DATA_FOLDER": str(root / "data"),
                "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(root / "creds" / "key.pem"),
                "COORDINATOR__BITCOIN__STORAGE_FILE": str(root / "data" / "bitcoin.db"),
                "COORDINATOR__API__PORT": str(api_port),
                "COORDINATOR__API__ORIGINS": f'["http://127.0.0.1:{api_port}"]',
                "COORDINATOR__ADMIN__PORT": str(free_port()),
                "COORDINATOR__ADMIN__TOKEN_FILE": str(root / "creds" / "admin_token"),
                "COORDINATOR__AUTH__ADDRESS_BURST": "1000000",
                "COORDINATOR__AUTH__USERNAME_BURST": "1000000",
            },
        )
        async with ListenerGroup(settings) as group:
            base = group.urls["public"]
            async with httpx.AsyncClient(base_url=base) as client:
                await bench_nip98_http(client, base, requests)
                runtime = group.runtime
                assert runtime is not None and runtime.accounts is not None
                await bench_login(client, runtime.accounts, logins)


async def bench_nip98_http(client: httpx.AsyncClient, base: str, count: int) -> None:
    signer = NostrSigner(secrets.token_bytes(32))
    path = "/api/v1/users/login"
    body = {"encrypted_bitcoin_private_key": "QUJD", "network": "regtest"}
    content = json.dumps(body).encode()
    headers = signer.headers("POST", base + "/api/v1/users/register", content)
    headers["Content-Type"] = "application/json"
    created = await client.post("/api/v1/users/register", content=content, headers=headers)
    assert created.is_success
    for _ in range(50):  # warm up
        await client.post(path)
    anonymous, signed = [], []
    for _ in range(count):
        start = time.perf_counter()
        await client.post(path)
        anonymous.append(time.perf_counter() - start)
        header = signer.headers("POST", base + path)
        start = time.perf_counter()
        response = await client.post(path, headers=header)
        signed.append(time.perf_counter() - start)
        assert response.status_code == 201
    print("HTTP over loopback (POST /api/v1/users/login):")
    line("no header (refused 401)", anonymous)
    line("NIP-98 signed (account read from users.db)", signed)


async def bench_login(client: httpx.AsyncClient, accounts: Accounts, count: int) -> None:
    start = time.perf_counter()
    keys = derive_login_keys("benchuser", "Correct-Horse-9")
    scrypt = time.perf_counter() - start
    body = register_body("benchuser", "Correct-Horse-9", secrets.token_bytes(32), "V0FMTEVU",
                         "regtest")  # fmt: skip
    assert (await client.post("/api/v1/users/username/register", json=body)).status_code == 201
    stored = accounts.hasher.hash(keys.login_key)
    argon = []
    for _ in range(count):
        start = time.perf_counter()
        accounts.hasher.verify(stored, keys.login_key)
        argon.append(time.perf_counter() - start)
    login = {"username": "benchuser", "password": keys.login_key}
    sequential = []
    for _ in range(count):
        start = time.perf_counter()
        response = await client.post("/api/v1/users/username/login", json=login)
        sequential.append(time.perf_counter() - start)
        assert response.status_code == 200
    unknown = []
    for i in range(count):
        start = time.perf_counter()
        response = await client.post(
            "/api/v1/users/username/login", json={**login, "username": f"nobody{i}"}
        )
        unknown.append(time.perf_counter() - start)
        assert response.status_code == 401

    async def timed() -> float:
        start = time.perf_counter()
        response = await client.post("/api/v1/users/username/login", json=login)
        assert response.status_code == 200
        return time.perf_counter() - start

    concurrent: list[float] = []
    for _ in range(max(1, count // 8)):
        concurrent += await asyncio.gather(*(timed() for _ in range(8)))
    print("Username login (Argon2id m=19456 KiB, t=2, p=1):")
    print(f"  {'client scrypt stretch (N=2^17, r=8, p=1)':<44} {scrypt * 1e3:9.1f} ms (once)")
    line("Argon2id verify (server work per attempt)", argon)
    line("POST /username/login, sequential", sequential)
    line("POST /username/login, unknown username", unknown)
    line("POST /username/login, 8 concurrent", concurrent)


def main() -> None:
    logging.basicConfig(level=logging.CRITICAL)  # the wallet has no chain here; say nothing
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--logins", type=int, default=40)
    args = parser.parse_args()
    bench_verify(args.requests)
    asyncio.run(bench_sqlite_gate(args.requests))
    asyncio.run(bench_http(args.requests // 4, args.logins))


if __name__ == "__main__":
    main()
