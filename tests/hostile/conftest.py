"""Live services for the hostile-input tests: every devnet service and the coordinator, each a
real process on a free loopback port, with what a client needs to authenticate to it.

The devnet services come from ``devnet.services.SERVICES``, so a service registered there is
started (and fuzzed by ``test_http_fuzz``) without changes here; ``SERVICE_OPTIONS`` adds the
command-line options a service needs in tests. The coordinator contributes its public listener
(``coordinator``) and its operator listener (``admin``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import pytest
from tests.conftest import free_port
from tests.support.coordinator import CoordinatorProcess, running_coordinator

from devnet.launcher import ServiceProcess, service_spec
from devnet.services import SERVICES

ORACLE_SEED = "11" * 32
ADMIN_OPENAPI_PATH = "/api/v1/admin/openapi.json"
#: The NIP-98 signer of requests to the oracle and the coordinator (a player or coordinator).
CLIENT_SECRET = bytes.fromhex("44" * 32)
#: Extra command-line options of devnet services in these tests.
SERVICE_OPTIONS: dict[str, list[str]] = {
    "oracle": ["--seed", ORACLE_SEED],
    "lightning": ["--node", "coordinator=100000000", "--node", "payer=100000000"],
}


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


@dataclass
class Stack:
    """Every devnet service and a coordinator connected to them."""

    devnet: dict[str, LiveService]
    coordinator: LiveService
    admin: LiveService
    processes: dict[str, ServiceProcess]
    coordinator_process: CoordinatorProcess

    @property
    def services(self) -> list[LiveService]:
        return [*self.devnet.values(), self.coordinator, self.admin]

    def service(self, name: str) -> LiveService:
        return next(service for service in self.services if service.name == name)


def _lightning_extras(service: LiveService) -> None:
    """Pin LND routes to the ``payer`` node and send its macaroon."""
    assert service.bearer_token is not None
    with service.http() as http:
        response = http.get(
            "/devnet/nodes/payer", headers={"Authorization": f"Bearer {service.bearer_token}"}
        )
        response.raise_for_status()
        macaroon = response.json()["macaroon_hex"]
    service.pins.append(Pin("/nodes/", {"alias": "payer"}, {"Grpc-Metadata-macaroon": macaroon}))


def start_stack(folder: Path) -> tuple[Stack, ExitStack]:
    """Start every devnet service, then a coordinator using the devnet chain."""
    cleanup = ExitStack()
    devnet: dict[str, LiveService] = {}
    processes: dict[str, ServiceProcess] = {}
    try:
        for spec in SERVICES:
            token = secrets.token_hex(16)
            extra = ["--log-level", "warning", *SERVICE_OPTIONS.get(spec.name, [])]
            process = ServiceProcess(
                service_spec(spec.name), free_port(), folder / spec.name, token, extra
            ).start()
            cleanup.callback(process.stop)
            processes[spec.name] = process
            devnet[spec.name] = LiveService(
                spec.name,
                process.url,
                bearer_token=token,
                nip98_secret=CLIENT_SECRET if spec.name == "oracle" else None,
                default_auth="nip98" if spec.name == "oracle" else None,
            )
        if "lightning" in devnet:
            _lightning_extras(devnet["lightning"])
        coordinator = cleanup.enter_context(
            running_coordinator(folder / "coordinator", esplora_url=devnet["chain"].url)
        )
    except BaseException:
        cleanup.close()
        raise
    public = LiveService(
        "coordinator", coordinator.url, nip98_secret=CLIENT_SECRET, default_auth="nip98"
    )
    admin = LiveService(
        "admin",
        coordinator.admin_url,
        bearer_token=coordinator.admin_token,
        default_auth="bearer",
        openapi_path=ADMIN_OPENAPI_PATH,
    )
    return Stack(devnet, public, admin, processes, coordinator), cleanup


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The services, started once per test module (modules do not share state)."""
    running, cleanup = start_stack(tmp_path_factory.mktemp("stack"))
    with cleanup:
        yield running
