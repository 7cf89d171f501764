"""A whole devnet stack for end-to-end tests, UI tests and a synthetic monitor.

:func:`running_stack` starts, as child processes on free loopback ports with their own data
folders under one root folder: the devnet chain, the devnet Lightning network, the devnet
oracle, the devnet signing gateway (when ``devnet.services`` registers one) and the coordinator
(``coordinator serve`` with ``config/e2e.toml`` and ``COORDINATOR__…`` overrides pointing it at
those services). It writes the admin token file (0600) the admin listener reads. Everything is
stopped when the context exits.

In pytest::

    async def test_something(devnet_stack: DevnetStack) -> None:       # fixture of this module
        admin = devnet_stack.admin                                     # bearer-token client
        alice = await devnet_stack.new_player("alice", balance_sats=100_000)
        record = await alice.player.reserve(competition_id)            # coordinator.player
        await alice.player.pay(record)                                 # from alice's LND node
        devnet_stack.mine(1)
        devnet_stack.oracle.put_weather(forecasts=[…], observations=[…])
        devnet_stack.oracle.attest(competition_id)
        devnet_stack.coordinator.kill()                                # SIGKILL
        devnet_stack.coordinator.start(crash_points=["after_broadcast:funding"])

:class:`StackOptions` sets Δ, the chain's automine interval, the oracle seed, extra coordinator
settings and whether the coordinator starts at all.

From other tools (the web UI's Playwright tests, a synthetic monitor), run it as a program::

    .venv/bin/python -m tests.support.stack --root /tmp/stack [--delta 3] [--automine-secs 2]

It prints one JSON line with every URL, the devnet control token and the admin token file,
then runs until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator.adapters.lightning import LndRestClient, ReconnectPolicy
from coordinator.player.api import CoordinatorApi
from coordinator.player.client import Player, PlayerState
from coordinator.player.identity import PlayerIdentity
from coordinator_core.faults import ENV_VAR as CRASH_POINTS_ENV
from coordinator_core.keymeld.attestation import EnclaveTrust
from coordinator_core.nitro import attestation_trust
from coordinator_core.private_file import write_private
from devnet.launcher import ServiceNotReadyError, ServiceProcess, service_spec, wait_http_ready
from devnet.lightning.control import DevnetNode, LightningDevnetControl
from devnet.services import SERVICES
from tests.support.chain import ChainHandle
from tests.support.oracle import OracleHandle

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_CONFIG = REPO_ROOT / "config" / "e2e.toml"
HEALTH_PATH = "/api/v1/health_check"
COORDINATOR_NODE = "coordinator"
FAST_RECONNECT = ReconnectPolicy(
    initial_delay_secs=0.1, max_delay_secs=0.5, settle_secs=0.2, idle_timeout_secs=30
)


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class StackOptions:
    """How to run the stack."""

    delta: int = 12  # relative_locktime_block_delta: ≥ 10 leaves room for Lightning payouts
    oracle_expiry_delay_secs: int = 120  # an event expires this long after its signing date
    automine_secs: float = 0.0  # 0: blocks only when a test mines them
    oracle_seed: str | None = None
    start_coordinator: bool = True
    coordinator_settings: dict[str, str] = field(default_factory=dict)  # extra COORDINATOR__…
    signer: bool = True  # start the devnet signing gateway when it is registered
    signer_args: tuple[str, ...] | list[str] = ()  # e.g. raised gateway limits
    log_level: str = "info"


class CoordinatorProcess:
    """``coordinator serve`` as a child process that tests can kill and restart."""

    def __init__(self, root: Path, env: dict[str, str], url: str, admin_url: str | None) -> None:
        self.root = root
        self.env = env
        self.url = url
        self.admin_url = admin_url
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path = root / "coordinator.log"

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", "coordinator", "--config", str(E2E_CONFIG), "serve"]

    def start(
        self,
        crash_points: Sequence[str] = (),
        timeout: float = 60.0,
        wait: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> CoordinatorProcess:
        """Start on the same data; ``crash_points`` are armed for this run only."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the coordinator is running already")
        env = dict(os.environ, **self.env, PYTHONUNBUFFERED="1", **(extra_env or {}))
        env.pop(CRASH_POINTS_ENV, None)
        if crash_points:
            env[CRASH_POINTS_ENV] = ",".join(crash_points)
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.starts} crash_points={list(crash_points)}\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            self.argv, env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        try:
            wait_http_ready(self.url + HEALTH_PATH, self.process, timeout)
        except ServiceNotReadyError as exc:
            raise ServiceNotReadyError(f"coordinator: {exc}\n{self.log_tail()}") from None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> int | None:
        """SIGKILL, as a crash: no shutdown hooks, no checkpoint."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        code = self.process.wait()
        self.process = None
        return code

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM (clean shutdown), SIGKILL after ``grace`` seconds."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
        code = self.process.wait()
        self.process = None
        return code

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to end by itself (a crash point); returns its exit code."""
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def restart(self, crash_points: Sequence[str] = ()) -> CoordinatorProcess:
        self.kill()
        return self.start(crash_points)

    def supervise(self, crash_points: Sequence[str]) -> CrashSupervisor:
        """Run with ``crash_points`` armed, restarting after each one fires (see below)."""
        return CrashSupervisor(self, crash_points).start()

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class CrashSupervisor:
    """Keeps a coordinator running through its crash points.

    It starts the coordinator with every point armed; each time the process dies at one (the
    log says ``crash point <name> reached``), that point is recorded in :attr:`reached` and the
    coordinator restarts on the same data with the points not yet reached. Clients see the
    crash as a dropped connection and retry.
    """

    def __init__(self, process: CoordinatorProcess, crash_points: Sequence[str]) -> None:
        self.process = process
        self.remaining = list(crash_points)
        self.reached: list[str] = []
        self.restarts = 0
        self.kills = 0
        self._expected_kill = threading.Event()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crash-supervisor", daemon=True)

    def start(self) -> CrashSupervisor:
        self.process.kill()
        self.process.start(self.remaining)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                proc = self.process.process
                if proc is None or proc.poll() is None:
                    self._stop.wait(0.05)
                    continue
                code = proc.wait()
                if self._stop.is_set():
                    return
                if self._expected_kill.is_set() and code == -signal.SIGKILL:
                    self._expected_kill.clear()
                    self.kills += 1
                    self.process.process = None
                    self.process.start(self.remaining, wait=False)
                    continue
                fired = _last_crash_point(self.process.log_text())
                if code != 137 or fired is None or fired not in self.remaining:
                    raise RuntimeError(
                        f"coordinator exited with {code} outside a crash point\n"
                        f"{self.process.log_tail(40)}"
                    )
                self._expected_kill.clear()
                self.remaining.remove(fired)
                self.reached.append(fired)
                self.restarts += 1
                self.process.process = None
                self.process.start(self.remaining, wait=False)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def kill_now(self) -> None:
        """SIGKILL the coordinator now; it is restarted like after a crash point."""
        proc = self.process.process
        if proc is None or proc.poll() is not None:
            return
        self._expected_kill.set()
        proc.send_signal(signal.SIGKILL)
        while self._expected_kill.is_set() and not self._stop.is_set():
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop supervising, leaving the coordinator running (restarted without crash points if
        it was down); re-raise a supervision error."""
        self._stop.set()
        self._thread.join(timeout=120)
        if not self.process.running:
            self.process.process = None
            self.process.start()
        if self.error is not None:
            raise self.error


def _last_crash_point(log: str) -> str | None:
    marker = "crash point "
    for line in reversed(log.splitlines()):
        if line.startswith(marker) and line.endswith(" reached: exiting"):
            return line[len(marker) : -len(" reached: exiting")]
    return None


class AdminClient:
    """The coordinator's admin listener, with the bearer token from the token file."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.http = httpx.Client(
            base_url=url, timeout=30.0, headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
        )  # fmt: skip

    def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.http.request(method, path, json=body)

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = self.request(method, path, body)
        if expect is not None and response.status_code != expect:
            raise AssertionError(f"{method} {path}: HTTP {response.status_code}: {response.text}")
        if response.status_code >= 400 and expect is None:
            raise AssertionError(f"{method} {path}: HTTP {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()


@dataclass
class PlayerHandle:
    """A player of the stack: its identity, its devnet LND node and its client."""

    name: str
    identity: PlayerIdentity
    node: DevnetNode
    lightning: LndRestClient
    api: CoordinatorApi
    player: Player

    async def balance_msat(self, control: LightningDevnetControl) -> int:
        return (await control.node(self.node.alias)).balance_msat

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.lightning.aclose()


class DevnetStack:
    """The running services, their clients and the helpers the scenarios use."""

    def __init__(self, root: Path, options: StackOptions) -> None:
        self.root = root
        self.options = options
        self.token = secrets.token_hex(16)  # the devnet control token of every service
        self.services: dict[str, ServiceProcess] = {}
        self.chain: ChainHandle
        self.oracle: OracleHandle
        self.lightning_url = ""
        self.signer_url: str | None = None
        self.coordinator: CoordinatorProcess
        self.admin_token_file = root / "creds" / "admin_token"
        self.admin_token = ""
        self._admin: AdminClient | None = None
        self._players: list[PlayerHandle] = []
        self._lock = threading.Lock()

    # -- start and stop -----------------------------------------------------------------------

    def _start_service(self, name: str, extra: list[str]) -> ServiceProcess:
        process = ServiceProcess(
            service_spec(name), free_port(), self.root / name, self.token,
            ["--log-level", "warning", *extra],
        )  # fmt: skip
        process.start(timeout=90.0)
        with self._lock:
            self.services[name] = process
        return process

    def start(self) -> DevnetStack:
        """Start the devnet services side by side, then the coordinator."""
        opts = self.options
        oracle_args = ["--seed", opts.oracle_seed] if opts.oracle_seed else []
        if any(
            option == "--expiry-delay-secs" for option, _ in service_spec("oracle").setting_options
        ):
            oracle_args += ["--expiry-delay-secs", str(opts.oracle_expiry_delay_secs)]
        plan = {
            "chain": ["--automine-secs", str(opts.automine_secs)],
            "oracle": oracle_args,
            "lightning": [],
        }
        if opts.signer and any(spec.name == "signer" for spec in SERVICES):
            plan["signer"] = list(opts.signer_args)
        with ThreadPoolExecutor(len(plan)) as pool:
            started = {
                name: pool.submit(self._start_service, name, args) for name, args in plan.items()
            }
            for future in started.values():
                future.result()
        chain = self.services["chain"]
        self.chain = ChainHandle(chain.url, self.token, chain)
        oracle = self.services["oracle"]
        self.oracle = OracleHandle(oracle.url, self.token, oracle)
        self.lightning_url = self.services["lightning"].url
        if "signer" in self.services:
            self.signer_url = self.services["signer"].url
        self._write_admin_token()
        self.coordinator = self._coordinator_process()
        if opts.start_coordinator:
            self.coordinator.start()
        return self

    def _write_admin_token(self) -> None:
        self.admin_token = secrets.token_urlsafe(36)
        write_private(self.admin_token_file, self.admin_token.encode() + b"\n")

    def _coordinator_process(self) -> CoordinatorProcess:
        home = self.root / "coordinator"
        home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        lightning_dir = self.root / "lightning"
        env = {
            "COORDINATOR__LOG_LEVEL": self.options.log_level,
            "COORDINATOR__DB__DATA_FOLDER": str(home / "data"),
            "COORDINATOR__API__PORT": str(port),
            "COORDINATOR__API__ORIGINS": json.dumps([url]),
            "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(home / "creds" / "coordinator.pem"),
            "COORDINATOR__COORDINATOR__ORACLE_URL": self.oracle.url,
            "COORDINATOR__COORDINATOR__RELATIVE_LOCKTIME_BLOCK_DELTA": str(self.options.delta),
            "COORDINATOR__BITCOIN__ESPLORA_URL": self.chain.url,
            "COORDINATOR__BITCOIN__STORAGE_FILE": str(home / "data" / "bitcoin.db"),
            "COORDINATOR__LIGHTNING__BASE_URL": f"{self.lightning_url}/nodes/{COORDINATOR_NODE}",
            "COORDINATOR__LIGHTNING__MACAROON_FILE_PATH": str(
                lightning_dir / "nodes" / COORDINATOR_NODE / "admin.macaroon"
            ),
            "COORDINATOR__DEVNET__DATA_FOLDER": str(self.root),
            "COORDINATOR__DEVNET__TOKEN": self.token,
        }
        if self.signer_url is not None:
            env["COORDINATOR__KEYMELD__GATEWAY_URL"] = self.signer_url
            env["COORDINATOR__KEYMELD__ATTESTATION_TRUST_ROOT_FILE"] = str(self.signer_root)
        admin_url = None
        admin = _admin_section()
        if admin is not None:
            admin_port = free_port()
            admin_url = f"http://127.0.0.1:{admin_port}"
            section, port_key, token_key = admin
            env[f"COORDINATOR__{section}__{port_key}"] = str(admin_port)
            env[f"COORDINATOR__{section}__{token_key}"] = str(self.admin_token_file)
        env.update(self.options.coordinator_settings)
        return CoordinatorProcess(home, env, url, admin_url)

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
        with contextlib.suppress(AttributeError):
            self.coordinator.stop()
        for name in reversed(list(self.services)):
            self.services[name].stop()
        for handle in (getattr(self, "chain", None), getattr(self, "oracle", None)):
            if handle is not None:
                handle.close()

    # -- clients ------------------------------------------------------------------------------

    @property
    def signer_root(self) -> Path:
        """The devnet signing gateway's attestation root (written when it starts)."""
        return self.root / "signer" / "attestation" / "root.pem"

    def enclave_trust(self) -> EnclaveTrust | None:
        """What players verify the gateway's enclaves against: the e2e PCR pin and the devnet
        gateway's root (``None`` without a gateway)."""
        if self.signer_url is None:
            return None
        from coordinator.config import load_settings

        configured = load_settings(E2E_CONFIG, env={}).keymeld.pcr_pins
        pins: dict[str | int, str] = {name: value for name, value in configured.items()}
        trust = attestation_trust("test", pcr_pins=pins, trust_root_file=self.signer_root)
        return EnclaveTrust(trust)

    @property
    def admin(self) -> AdminClient:
        if self.coordinator.admin_url is None:
            raise RuntimeError("this coordinator has no admin listener setting")
        if self._admin is None:
            self._admin = AdminClient(self.coordinator.admin_url, self.admin_token)
        return self._admin

    def lightning_control(self) -> LightningDevnetControl:
        """An async client of the devnet Lightning control API (close it after use)."""
        return LightningDevnetControl(self.lightning_url, self.token)

    def api(self, identity: PlayerIdentity) -> CoordinatorApi:
        return CoordinatorApi(self.coordinator.url, identity.nostr_secret)

    async def new_player(
        self, name: str, balance_sats: int = 1_000_000, state_file: Path | None = None
    ) -> PlayerHandle:
        """A fresh player identity with its own funded devnet LND node."""
        identity = PlayerIdentity.generate("regtest")
        alias = f"{name}-{uuid.uuid4().hex[:8]}"
        async with self.lightning_control() as control:
            node = await control.create_node(alias, balance_sats)
        lightning = LndRestClient(
            node.base_url, network="regtest", macaroon=node.macaroon, max_retries=2,
            min_invoice_validity_secs=0.0, reconnect=FAST_RECONNECT,
        )  # fmt: skip
        api = self.api(identity)
        player = Player(
            identity, api, PlayerState.load(state_file), lightning, self.enclave_trust()
        )
        handle = PlayerHandle(name, identity, node, lightning, api, player)
        self._players.append(handle)
        return handle

    async def close_players(self) -> None:
        for handle in self._players:
            await handle.aclose()
        self._players.clear()

    # -- chain, oracle and clock helpers --------------------------------------------------------

    def mine(self, blocks: int = 1) -> list[str]:
        return self.chain.mine(blocks)

    def set_fee_estimates(self, estimates: dict[int, float]) -> None:
        self.chain.set_fee_estimates(estimates)

    def set_chain_time(self, unix: int) -> int:
        return self.chain.set_time(unix)

    def post_weather(
        self, forecasts: list[dict[str, Any]], observations: list[dict[str, Any]]
    ) -> None:
        response = self.oracle.put_weather(forecasts, observations)
        assert response.status_code == 200, response.text

    def attest(self, event_id: object) -> dict[str, Any]:
        response = self.oracle.attest(event_id)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def describe(self) -> dict[str, Any]:
        """URLs and credentials, as ``python -m tests.support.stack`` prints them."""
        return {
            "root": str(self.root),
            "coordinator_url": self.coordinator.url,
            "admin_url": self.coordinator.admin_url,
            "admin_token_file": str(self.admin_token_file),
            "chain_url": self.chain.url,
            "lightning_url": self.lightning_url,
            "oracle_url": self.oracle.url,
            "signer_url": self.signer_url,
            "signer_attestation_root": str(self.signer_root) if self.signer_url else None,
            "devnet_token": self.token,
            "coordinator_log": str(self.coordinator.log_path),
        }


def _admin_section() -> tuple[str, str, str] | None:
    """(section, port key, token file key) of the admin listener settings, if they exist yet."""
    from coordinator.config import Settings

    for section in ("admin", "admin_settings"):
        model = Settings.model_fields.get(section)
        if model is None or model.annotation is None:
            continue
        fields = getattr(model.annotation, "model_fields", {})
        port_key = next((k for k in ("port", "listen_port") if k in fields), None)
        token_key = next((k for k in ("token_file", "token_path") if k in fields), None)
        if port_key and token_key:
            return section.upper(), port_key.upper(), token_key.upper()
    return None


@contextmanager
def running_stack(root: Path, options: StackOptions | None = None) -> Iterator[DevnetStack]:
    """Start every service under ``root``; stop them all afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    stack = DevnetStack(root, options or StackOptions())
    try:
        yield stack.start()
    finally:
        stack.close()


# -- pytest fixtures --------------------------------------------------------------------------


@pytest.fixture
async def devnet_stack(tmp_path: Path) -> AsyncIterator[DevnetStack]:
    """A whole stack for one test (started in a thread so the event loop stays free)."""
    stack = DevnetStack(tmp_path / "stack", StackOptions())
    (tmp_path / "stack").mkdir()
    try:
        await asyncio.to_thread(stack.start)
        yield stack
    finally:
        await stack.close_players()
        await asyncio.to_thread(stack.close)


# -- as a program -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a devnet stack for UI tests or monitors.")
    parser.add_argument("--root", type=Path, required=True, help="folder for every data folder")
    parser.add_argument("--delta", type=int, default=StackOptions.delta)
    parser.add_argument("--automine-secs", type=float, default=0.0)
    parser.add_argument("--oracle-seed", default=None)
    parser.add_argument("--no-coordinator", action="store_true")
    args = parser.parse_args(argv)
    options = StackOptions(
        delta=args.delta, automine_secs=args.automine_secs, oracle_seed=args.oracle_seed,
        start_coordinator=not args.no_coordinator,
    )  # fmt: skip
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with running_stack(args.root, options) as stack:
        print(json.dumps(stack.describe()), flush=True)
        while not stop.wait(0.5):
            if stack.options.start_coordinator and not stack.coordinator.running:
                print("coordinator exited", file=sys.stderr, flush=True)
                break


if __name__ == "__main__":
    main()
