"""Live services for the hostile-input tests: the whole devnet stack (``tests.support.stack``)
with what a client needs to authenticate to each service.

Every service is a target: each devnet service registered in ``devnet.services`` (those the
stack does not run are started beside it), the coordinator's public listener
(``coordinator``) and its operator listener (``admin``); so a newly registered service is
fuzzed by ``test_http_fuzz`` without changes here. Stand-ins that are third-party servers
without an OpenAPI document of ours are listed in ``NOT_OURS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Literal

import httpx
import pytest

from devnet.launcher import ServiceProcess, service_spec
from devnet.services import SERVICES
from tests.conftest import free_port
from tests.support.fuzz_report import COUNTS as FUZZ_COUNTS
from tests.support.stack import DevnetStack, StackOptions, running_stack

ORACLE_SEED = "11" * 32
ADMIN_OPENAPI_PATH = "/api/v1/admin/openapi.json"
#: The Lightning node whose LND API the tests call (the stack's own node belongs to the
#: coordinator).
PAYER = "payer"
#: The NIP-98 signer of requests to the oracle and the coordinator.
CLIENT_SECRET = bytes.fromhex("44" * 32)
#: Devnet services whose routes authenticate with NIP-98 unless they declare another scheme.
NIP98_SERVICES = frozenset({"oracle"})
#: Registered stand-ins that are third-party servers (nothing of ours to fuzz), and why.
NOT_OURS = {"s3": "moto's S3 server"}
#: The services ``test_http_fuzz`` targets, known at collection.
TARGET_NAMES = [spec.name for spec in SERVICES if spec.name not in NOT_OURS] + [
    "coordinator",
    "admin",
]

#: How the LND gateway's gRPC refusals (HTTP 500 with a gRPC status body) are tallied.
GRPC_REFUSAL = "LND gRPC refusals"


def tally(target: str, operation: str, status: int, grpc_refusal: bool = False) -> None:
    """Count one request ``test_http_fuzz`` sent and the class of its answer (reported at the
    end of the run by ``tests.support.fuzz_report``: 2xx answers show the credentials got
    through)."""
    answer = GRPC_REFUSAL if grpc_refusal else "401/403" if status in (401, 403) else None
    FUZZ_COUNTS.request(target, operation, answer or f"{status // 100}xx")


@dataclass(frozen=True)
class Pin:
    """Path parameters and headers fixed for routes under ``prefix`` (e.g. an existing
    Lightning node's alias and its macaroon), so generated requests get past authorization."""

    prefix: str
    path_parameters: dict[str, str]
    headers: dict[str, str]


@dataclass
class LiveService:
    """A running HTTP service under test and how to authenticate to it."""

    name: str
    url: str
    #: Bearer token of routes declaring a bearer scheme (devnet control), or of every route
    #: when ``default_auth`` is "bearer" (the admin listener).
    bearer_token: str | None = None
    #: Key of the fresh NIP-98 header routes get when ``default_auth`` is "nip98".
    nip98_secret: bytes | None = None
    #: How routes that declare no security scheme are authenticated.
    default_auth: Literal["nip98", "bearer"] | None = None
    #: Where the OpenAPI document is served (it may need the bearer token).
    openapi_path: str = "/openapi.json"
    #: Routes under a path prefix that need fixed parts to reach their handler.
    pins: list[Pin] = field(default_factory=list)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token}"} if self.bearer_token else {}


@dataclass
class Stack:
    """The running stack and its services as test targets."""

    running: DevnetStack
    devnet: dict[str, LiveService]
    coordinator: LiveService
    admin: LiveService

    @property
    def services(self) -> list[LiveService]:
        return [*self.devnet.values(), self.coordinator, self.admin]

    def service(self, name: str) -> LiveService:
        return next(service for service in self.services if service.name == name)


def _payer_pin(lightning: LiveService) -> Pin:
    """A funded ``payer`` node: LND routes are pinned to it and send its macaroon."""
    with lightning.http() as http:
        response = http.post(
            "/devnet/nodes", json={"alias": PAYER, "balance_sats": 10**8}, headers=lightning.bearer
        )
        response.raise_for_status()
        macaroon = response.json()["macaroon_hex"]
    return Pin("/nodes/", {"alias": PAYER}, {"Grpc-Metadata-macaroon": macaroon})


def targets(running: DevnetStack, extra: dict[str, ServiceProcess]) -> Stack:
    processes = {**running.services, **extra}
    devnet = {
        name: LiveService(
            name,
            process.url,
            bearer_token=running.token,
            nip98_secret=CLIENT_SECRET if name in NIP98_SERVICES else None,
            default_auth="nip98" if name in NIP98_SERVICES else None,
        )
        for name, process in processes.items()
        if name not in NOT_OURS
    }
    devnet["lightning"].pins.append(_payer_pin(devnet["lightning"]))
    public = LiveService(
        "coordinator", running.coordinator.url, nip98_secret=CLIENT_SECRET, default_auth="nip98"
    )
    assert running.coordinator.admin_url is not None
    admin = LiveService(
        "admin",
        running.coordinator.admin_url,
        bearer_token=running.admin_token,
        default_auth="bearer",
        openapi_path=ADMIN_OPENAPI_PATH,
    )
    return Stack(running, devnet, public, admin)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack, started once per test module (modules do not share state)."""
    root = tmp_path_factory.mktemp("stack")
    options = StackOptions(oracle_seed=ORACLE_SEED, log_level="warning")
    with running_stack(root / "stack", options) as running, ExitStack() as beside:
        extra: dict[str, ServiceProcess] = {}
        for spec in SERVICES:
            if spec.name not in running.services and spec.name not in NOT_OURS:
                process = ServiceProcess(
                    service_spec(spec.name), free_port(), root / spec.name, running.token,
                    ["--log-level", "warning"],
                ).start(timeout=90.0)  # fmt: skip
                beside.callback(process.stop)
                extra[spec.name] = process
        yield targets(running, extra)
