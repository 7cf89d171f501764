"""HTTP fuzzing (schemathesis) of every service's OpenAPI document: no request gets a 5xx.

Each service is a real process (every devnet service, the coordinator's public and admin
listeners); its schema is read from the service itself at run time, so routes added later are
fuzzed without changes here. Requests are authenticated as the route asks: routes declaring a
bearer scheme (the devnet control API) get the service's token, every admin route the admin
token; on services that use NIP-98 every other route gets a fresh ``Authorization: Nostr``
header signed over the exact URL, method and body sent; pinned routes (a Lightning node's LND
API) get an existing node and its macaroon. Generation covers both valid and invalid inputs
(schemathesis coverage and fuzzing phases, hostile integers and strings mixed in), bounded by
``MAX_EXAMPLES`` per operation and a time limit.

LND's REST gateway reports every refusal that is not InvalidArgument, NotFound or Unavailable
as HTTP 500 with a gRPC status body (``{"code": 2, "message": …}``), and the devnet Lightning
network speaks that protocol faithfully; such an answer is a refusal, not a server error, so on
the LND routes a 500 counts as a failure only when its body is not such a gRPC status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig

from coordinator_core.nip98 import build_auth_header
from tests.fuzz.budget import examples
from tests.hostile.conftest import TARGET_NAMES, LiveService, Stack, tally

#: Generated requests per operation in the fuzzing phase (the coverage phase adds its own
#: boundary cases: each parameter's limits, wrong types, missing fields).
MAX_EXAMPLES = examples(20)
REQUEST_TIMEOUT_SECS = 15
MAX_READ_BYTES = 1 << 20
GRPC_UNKNOWN = 2
#: Mixed into generated integers and strings: the edges where parsers and storage break
#: (signed/unsigned 64-bit overflow, the money supply in msat, huge decimals, a trailing
#: newline, non-ASCII digits, separators).
HOSTILE_INTEGERS: list[int] = [
    2**63 - 1, 2**63, 2**64, -(2**63) - 1, 2**31, 2**32, 21 * 10**20 + 1, 10**30, -1,
]  # fmt: skip
HOSTILE_STRINGS: list[str] = [
    "0" * 64 + "\n", "00" * 32 + " ", "99999999999999999999", "-1", "1.5", "1e3", "١٢٣",
    "%0a", "../../etc", "\u0000", "a" * 5000, "[" * 2000, "lnbcrt-1m1",
]  # fmt: skip

CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "dictionaries": {
                "integer": {"dictionary": "hostile-integers", "probability": 0.25},
                "string": {"dictionary": "hostile-strings", "probability": 0.1},
            },
        },
        "dictionaries": {
            "hostile-integers": {"values": HOSTILE_INTEGERS},
            "hostile-strings": {"values": HOSTILE_STRINGS},
        },
        "request-timeout": REQUEST_TIMEOUT_SECS,
    }
)


class Nip98Signer(requests.auth.AuthBase):
    """Signs each prepared request (its final URL, method and body bytes) with NIP-98."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        assert request.url is not None and request.method is not None
        request.headers["Authorization"] = build_auth_header(
            self.secret, request.url, request.method, body
        )
        return request


class BearerToken(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def auth_for(case: Case, service: LiveService) -> requests.auth.AuthBase | None:
    """The credentials the route of ``case`` asks for, if the service issues any."""
    declared = case.operation.definition.raw.get("security") or []
    schemes = {name for requirement in declared for name in requirement}
    if service.bearer_token is not None and (schemes or service.default_auth == "bearer"):
        return BearerToken(service.bearer_token)
    if service.default_auth == "nip98" and service.nip98_secret is not None:
        return Nip98Signer(service.nip98_secret)
    return None


def pin(case: Case, service: LiveService) -> dict[str, str]:
    """Fix the path parameters the service pins for this route; the headers to send."""
    headers: dict[str, str] = {}
    for fixed in service.pins:
        if case.operation.path.startswith(fixed.prefix):
            if case.path_parameters is not None:
                case.path_parameters.update(
                    {k: v for k, v in fixed.path_parameters.items() if k in case.path_parameters}
                )
            headers.update(fixed.headers)
    return headers


def is_grpc_refusal(body: bytes) -> bool:
    """A gRPC status of a refused call (code Unknown), as LND's gateway sends with a 500."""
    try:
        answer: Any = json.loads(body)
    except ValueError:
        return False
    status = answer.get("error", answer) if isinstance(answer, dict) else None
    return (
        isinstance(status, dict)
        and status.get("code") == GRPC_UNKNOWN
        and isinstance(status.get("message"), str)
    )


def send(case: Case, service: LiveService, session: requests.Session) -> tuple[int, bytes]:
    """Send ``case``; the status and body. A streamed answer (no Content-Length: the LND
    subscription routes) is judged by its status alone and closed at once."""
    kwargs = case.as_transport_kwargs(base_url=service.url, headers=pin(case, service))
    kwargs.pop("cookies", None)
    with session.request(
        **kwargs, auth=auth_for(case, service), stream=True, timeout=REQUEST_TIMEOUT_SECS
    ) as response:
        if "content-length" not in response.headers:
            return response.status_code, b""
        return response.status_code, response.raw.read(MAX_READ_BYTES, decode_content=True)


@pytest.fixture(scope="module", params=TARGET_NAMES)
def live(request: pytest.FixtureRequest, stack: Stack) -> LiveService:
    return stack.service(request.param)


@pytest.fixture(scope="module")
def service_schema(live: LiveService) -> Any:
    headers = {"Authorization": f"Bearer {live.bearer_token}"} if live.bearer_token else {}
    return schemathesis.openapi.from_url(
        live.url + live.openapi_path, config=CONFIG, headers=headers
    )


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


schema = schemathesis.pytest.from_fixture("service_schema")


@pytest.mark.timeout(240)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=False,
)
def test_no_server_errors(case: Case, live: LiveService, session: requests.Session) -> None:
    status, body = send(case, live, session)
    lnd_route = live.name == "lightning" and case.operation.path.startswith("/nodes/")
    grpc_refusal = status == 500 and lnd_route and is_grpc_refusal(body)
    tally(live.name, case.operation.label, status, grpc_refusal)
    if grpc_refusal:
        return
    assert status < 500, f"{case.method} {case.formatted_path} -> {status}: {body[:500]!r}"
