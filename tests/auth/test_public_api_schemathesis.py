"""schemathesis against the public listener's OpenAPI document, over HTTP, on a devnet stack.

Every generated request gets a fresh NIP-98 header signed over its exact URL, method and body
(with a random ``nonce`` tag, so no two are the same event), so authenticated handlers run, not
only the 401 path. Checks: no 5xx, documented status codes, content types, headers and
response bodies matching their schemas. The operations are read from the running app, so
routes added later are covered without changes here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import APIOperation

from tests.auth.conftest import USER_SECRET
from tests.support.nostr_auth import NostrSigner
from tests.support.stack import StackOptions, running_stack

MAX_EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "request-timeout": 30,
    }
)


class SignEveryRequest(requests.auth.AuthBase):
    """NIP-98 over the prepared request: its final URL, method and body bytes."""

    def __init__(self, signer: NostrSigner) -> None:
        self.signer = signer

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        assert request.url is not None and request.method is not None
        request.headers["Authorization"] = self.signer.header(
            request.method, request.url, body or None
        )
        return request


@pytest.fixture(scope="module")
def public_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The coordinator of a whole devnet stack (chain, Lightning, oracle, signing gateway), so
    competition routes run against real services rather than a disabled lifecycle."""
    options = StackOptions(
        log_level="warning",
        coordinator_settings={
            "COORDINATOR__AUTH__ADDRESS_BURST": "1000000",
            "COORDINATOR__AUTH__USERNAME_BURST": "1000000",
            "COORDINATOR__AUTH__REPLAY_CAPACITY": "1000000",
        },
    )
    with running_stack(Path(tmp_path_factory.mktemp("fuzz")), options) as stack:
        yield stack.coordinator.url


def operations(schema: schemathesis.BaseSchema) -> list[APIOperation]:
    found = [result.ok() for result in schema.get_all_operations()]
    assert found, "the public app documents no operation"
    return found


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_public_api_conforms(public_url: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{public_url}/openapi.json", config=CONFIG)
    auth = SignEveryRequest(NostrSigner(USER_SECRET))
    counted: dict[str, int] = {}
    with requests.Session() as session:
        for operation in operations(schema):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def check(case: Case) -> None:
                response = case.call(base_url=public_url, session=session, auth=auth)
                case.validate_response(response, checks=CHECKS)
                counted[case.operation.label] = counted.get(case.operation.label, 0) + 1

            try:
                check()
            except Unsatisfiable:
                # No parameters or body to make invalid (e.g. health): nothing negative exists.
                assert mode is GenerationMode.NEGATIVE, operation.label
                counted.setdefault(operation.label, 0)
    print(f"schemathesis {mode.value}: {counted}")
    assert set(counted) == {operation.label for operation in operations(schema)}
