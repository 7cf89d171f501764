"""``coordinator dev``: run the devnet services and the coordinator as supervised children.

Children start in dependency order, each only after the previous one answers its health check.
Once all are ready their URLs are printed. Ctrl-C / SIGTERM (or any child dying) stops every
child in reverse order: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from coordinator.app.admin_cli import read_token
from coordinator.app.auth.admin_token import load_admin_token
from coordinator.config import DevnetSettings, Settings
from coordinator_core.errors import ConfigError
from devnet.launcher import ServiceNotReadyError, service_argv, stop_process, wait_http_ready
from devnet.services import SERVICES, ServiceSpec


@dataclass(frozen=True)
class Child:
    """A process to supervise and the URL that tells when it is ready."""

    name: str
    title: str
    argv: list[str]
    url: str
    health_url: str
    usage: str = ""
    env: tuple[tuple[str, str], ...] = ()  # added to the inherited environment

    @property
    def lines(self) -> list[str]:
        return [line for line in self.usage.splitlines() if line]


def plan_children(settings: Settings, config_path: Path | None) -> list[Child]:
    """The devnet services followed by the coordinator, with their command lines."""
    devnet = settings.devnet
    if devnet is None:
        raise ConfigError("`coordinator dev` needs a [devnet] section (use config/local.toml)")
    children = [_devnet_child(devnet, spec) for spec in SERVICES]
    url = f"http://{settings.api.host}:{settings.api.port}"
    argv = [sys.executable, "-m", "coordinator"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    admin = settings.admin
    usage = "\n".join(
        [
            f"public listener {url} (JSON API under /api/v1, player pages at /)",
            f"admin listener http://{admin.host}:{admin.port} "
            f"(Authorization: Bearer <token in {admin.token_file}>)",
            *_operations_lines(settings),
        ]
    )
    children.append(
        Child(
            "coordinator",
            "coordinator API",
            [*argv, "serve"],
            url,
            f"{url}/api/v1/health_check",
            usage,
            tuple({**devnet_endpoints(devnet), **_backup_env(settings)}.items()),
        )
    )
    return children


def devnet_endpoints(devnet: DevnetSettings) -> dict[str, str]:
    """``COORDINATOR__…`` overrides pointing the coordinator at the devnet it runs with: the
    chain, the ``coordinator`` Lightning node and its macaroon, the oracle, the signing gateway
    and its attestation root, whatever ports and data folder the devnet uses."""

    def at(port: int) -> str:
        return f"http://{devnet.host}:{port}"

    return {
        "COORDINATOR__BITCOIN__ESPLORA_URL": at(devnet.chain_port),
        "COORDINATOR__LIGHTNING__BASE_URL": at(devnet.lightning_port) + "/nodes/coordinator",
        "COORDINATOR__LIGHTNING__MACAROON_FILE_PATH": str(
            devnet.data_folder / "lightning" / "nodes" / "coordinator" / "admin.macaroon"
        ),
        "COORDINATOR__COORDINATOR__ORACLE_URL": at(devnet.oracle_port),
        "COORDINATOR__KEYMELD__GATEWAY_URL": at(devnet.signer_port),
        "COORDINATOR__KEYMELD__ATTESTATION_TRUST_ROOT_FILE": str(
            devnet.data_folder / "signer" / "attestation" / "root.pem"
        ),
    }


def _backup_env(settings: Settings) -> dict[str, str]:
    """Point the coordinator's backups at the devnet S3 on whatever port it really has."""
    if not settings.backup.enabled or settings.devnet is None:
        return {}
    devnet = settings.devnet
    keys = devnet.data_folder / "s3"
    return {
        "COORDINATOR__BACKUP__ENDPOINT": f"http://{devnet.host}:{devnet.s3_port}",
        "COORDINATOR__BACKUP__FORCE_PATH_STYLE": "true",
        "COORDINATOR__BACKUP__BUCKET": devnet.s3_bucket,
        "COORDINATOR__BACKUP__ACCESS_KEY_ID_FILE": str(keys / "access_key_id"),
        "COORDINATOR__BACKUP__SECRET_ACCESS_KEY_FILE": str(keys / "secret_access_key"),
    }


def _operations_lines(settings: Settings) -> list[str]:
    lines = []
    backup = settings.backup
    if backup.enabled:
        lines.append(
            f"backups: Litestream -> s3://{backup.bucket}/{backup.path} every "
            f"{backup.sync_interval_secs:g}s (`coordinator backup status`)"
        )
    if settings.metrics.enabled:
        lines.append(f"metrics: http://{settings.metrics.host}:{settings.metrics.port}/metrics")
    if settings.cpfp.enabled and settings.devnet is not None:
        chain = f"http://{settings.devnet.host}:{settings.devnet.chain_port}"
        lines.append(
            f"fee bumping: stuck settlement transactions get a CPFP child (every "
            f"{settings.cpfp.check_interval_secs:g}s); simulate a fee spike with POST "
            f"{chain}/devnet/min-fee-rate and /devnet/fee-estimates"
        )
    return lines


def _devnet_child(devnet: DevnetSettings, spec: ServiceSpec) -> Child:
    port = getattr(devnet, spec.port_setting)
    url = f"http://{devnet.host}:{port}"
    extra = [
        arg
        for option, setting in spec.setting_options
        for arg in (option, str(getattr(devnet, setting)))
    ]
    argv = service_argv(
        spec, devnet.host, port, devnet.data_folder / spec.name, devnet.token, extra
    )
    return Child(spec.name, spec.title, argv, url, f"{url}{spec.health_path}", spec.usage)


DEV_WALLET_SATS = 10_000_000


def fund_wallet(settings: Settings, sats: int = DEV_WALLET_SATS) -> str:
    """Give the coordinator's wallet devnet coins when it has less than half of ``sats``
    (the faucet pays a new wallet address; one block confirms it)."""
    devnet = settings.devnet
    assert devnet is not None
    admin = settings.admin
    headers = {"Authorization": f"Bearer {read_token(admin.token_file)}"}
    chain = f"http://{devnet.host}:{devnet.chain_port}"
    control = {"Authorization": f"Bearer {devnet.token}"}
    with httpx.Client(base_url=f"http://{admin.host}:{admin.port}", headers=headers,
                      timeout=30.0, trust_env=False) as http:  # fmt: skip
        balance = http.get("/api/v1/wallet/balance")
        if balance.status_code != 200:
            return f"wallet not funded: HTTP {balance.status_code} from the admin listener"
        if sum(balance.json().values()) >= sats // 2:
            return "wallet funded"
        address = http.get("/api/v1/wallet/address").json()["address"]
    with httpx.Client(base_url=chain, headers=control, timeout=30.0, trust_env=False) as http:
        http.post("/devnet/faucet", json={"address": address, "sats": sats}).raise_for_status()
        http.post("/devnet/mine", json={"blocks": 1}).raise_for_status()
    return f"wallet funded with {sats} sats at {address}"


def next_steps(settings: Settings, config_path: Path | None = None) -> list[str]:
    """The banner's "try it" lines: create a competition, make a player node, enter; or
    the synthetic monitor's whole timed competition."""
    devnet = settings.devnet
    assert devnet is not None
    lightning = f"http://{devnet.host}:{devnet.lightning_port}"
    macaroon = devnet.data_folder / "lightning" / "nodes" / "alice" / "admin.macaroon"
    pins = " ".join(
        f"--pcr-pin {name}={value}" for name, value in settings.keymeld.pcr_pins.items()
    )
    root = settings.keymeld.attestation_trust_root_file
    trust = f"{pins} --attestation-root {root}" if root is not None else pins
    return [
        "coordinator admin competitions create --stations KORD --entries 3 --start +15m",
        f"curl -s -H 'Authorization: Bearer {devnet.token}' "
        f'-d \'{{"alias":"alice","balance_sats":1000000}}\' {lightning}/devnet/nodes',
        "coordinator player init && coordinator player "
        f"--lnd-url {lightning}/nodes/alice --lnd-macaroon {macaroon} {trust} "
        "enter <competition id> --pick KORD:temp_high=Over",
        f"coordinator synth --from-config {config_path or 'config/local.toml'} run"
        "    # or all of it at once, timed (see README: Synthetic monitor)",
    ]


class Supervisor:
    """Starts children in order, waits for readiness and stops them all on request."""

    def __init__(
        self,
        children: Sequence[Child],
        startup_timeout: float,
        steps: Sequence[str] = (),
        on_ready: Callable[[], str] | None = None,
    ) -> None:
        self.children = list(children)
        self.steps = list(steps)
        self.on_ready = on_ready
        self.startup_timeout = startup_timeout
        self.processes: list[tuple[Child, subprocess.Popen[bytes]]] = []
        self.stop_requested = threading.Event()

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_requested.set()

    def run(self) -> int:
        """Run until a stop is requested or a child dies. Returns the exit code."""
        previous = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in self.children:
                if not self._start(child):
                    return 0 if self.stop_requested.is_set() else 1
            if self.on_ready is not None:
                try:
                    print(self.on_ready(), flush=True)
                except httpx.HTTPError as exc:
                    print(f"warning: {exc}", file=sys.stderr, flush=True)
            self._print_ready()
            return self._watch()
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _start(self, child: Child) -> bool:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **dict(child.env))
        # A new session keeps a terminal's Ctrl-C from reaching the children directly, so
        # they are stopped in order by the supervisor.
        process = subprocess.Popen(child.argv, env=env, start_new_session=True)  # noqa: S603
        self.processes.append((child, process))
        try:
            wait_http_ready(child.health_url, process, self.startup_timeout, self.stop_requested)
        except ServiceNotReadyError as exc:
            if not self.stop_requested.is_set():
                print(f"error: {child.title} did not start: {exc}", file=sys.stderr)
            return False
        return True

    def _print_ready(self) -> None:
        width = max(len(child.title) for child in self.children)
        print("\nForecast Coordinator devnet is ready:", flush=True)
        for child in self.children:
            print(f"  {child.title.ljust(width)}  {child.url}", flush=True)
            for line in child.lines:
                print(f"  {' ' * width}  {line}", flush=True)
        if self.steps:
            print("Create a competition and enter it (in another terminal):", flush=True)
            for step in self.steps:
                print(f"  {step}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)

    def _watch(self) -> int:
        while not self.stop_requested.wait(0.2):
            for child, process in self.processes:
                if process.poll() is not None:
                    print(
                        f"error: {child.title} exited with code {process.returncode}",
                        file=sys.stderr,
                    )
                    return 1
        return 0

    def _stop_all(self) -> None:
        for _, process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()


def run_dev(settings: Settings, config_path: Path | None) -> int:
    """Entry point of ``coordinator dev``."""
    if settings.profile == "production":
        raise ConfigError("`coordinator dev` cannot run with the production profile")
    children = plan_children(settings, config_path)
    load_admin_token(settings.admin.token_file, create_if_missing=True)
    assert settings.devnet is not None
    return Supervisor(
        children,
        settings.devnet.startup_timeout_secs,
        next_steps(settings, config_path),
        on_ready=lambda: fund_wallet(settings),
    ).run()
