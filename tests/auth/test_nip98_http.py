"""The NIP-98 gate over HTTP against the real application (coordinator.md §5.1, §4.2, §13.1).

Every case sends a real request to the public listener; the probe routes use the same
``Depends(nostr_caller)`` every authenticated route uses, and parse their bodies with FastAPI.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter, Depends, FastAPI, Form
from pydantic import BaseModel

from coordinator.app.auth import NostrCaller, nostr_caller
from coordinator_core.nip98 import MAX_HEADER_CHARS
from coordinator_core.nostr import NostrEvent
from tests.auth.conftest import (
    OTHER_SECRET,
    Coordinator,
    make_settings,
    start_coordinator,
    with_routes,
)
from tests.support.nostr_auth import NostrSigner, event_header

Caller = Annotated[NostrCaller, Depends(nostr_caller)]


class Item(BaseModel):
    name: str
    count: int


def add_probe(app: FastAPI) -> None:
    router = APIRouter()

    @router.get("/probe/whoami")
    async def whoami(caller: Caller) -> dict[str, str]:
        return {"pubkey": caller.pubkey, "npub": caller.npub}

    @router.post("/probe/json")
    async def post_json(item: Item, caller: Caller) -> dict[str, Any]:
        return {"pubkey": caller.pubkey, "item": item.model_dump()}

    @router.post("/probe/form")
    async def post_form(name: Annotated[str, Form()], caller: Caller) -> dict[str, str]:
        return {"pubkey": caller.pubkey, "name": name}

    app.include_router(router)


def running(tmp_path: Path, **env: Any) -> AbstractAsyncContextManager[Coordinator]:
    settings = make_settings(tmp_path, **env)
    return start_coordinator(settings, with_routes("public", add_probe))


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def coord(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Coordinator]:
    async with running(tmp_path_factory.mktemp("coord")) as coordinator:
        yield coordinator


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def proxied(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Coordinator]:
    """Behind a trusted proxy at 127.0.0.1 whose public origin is https://coordinator.example."""
    async with running(
        tmp_path_factory.mktemp("proxied"),
        COORDINATOR__API__TRUSTED_PROXIES='["127.0.0.1"]',
        COORDINATOR__API__PUBLIC_URL="https://coordinator.example",
    ) as coordinator:
        yield coordinator


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "detail"}, body
    return response.status_code, body["error"]["type"]


BODY = json.dumps({"name": "kord", "count": 3}, separators=(",", ":")).encode()
JSON_HEADERS = {"Content-Type": "application/json"}


async def test_valid_get_names_the_caller(coord: Coordinator, user: NostrSigner) -> None:
    url = f"{coord.public_url}/probe/whoami"
    headers = {"Authorization": user.plain_header("GET", url)}
    response = await coord.public.get("/probe/whoami", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"pubkey": user.pubkey, "npub": user.npub}


async def test_valid_get_with_query(coord: Coordinator, user: NostrSigner) -> None:
    url = f"{coord.public_url}/probe/whoami?a=1&b=%20x"
    response = await coord.public.get(url, headers=user.headers("GET", url))
    assert response.status_code == 200


async def test_valid_post_with_payload_keeps_route_body_parsing(
    coord: Coordinator, user: NostrSigner
) -> None:
    url = f"{coord.public_url}/probe/json"
    headers = {"Authorization": user.plain_header("POST", url, BODY), **JSON_HEADERS}
    response = await coord.public.post("/probe/json", content=BODY, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"pubkey": user.pubkey, "item": {"name": "kord", "count": 3}}


async def test_form_body_is_verified_and_still_parsed(
    coord: Coordinator, user: NostrSigner
) -> None:
    url = f"{coord.public_url}/probe/form"
    body = b"name=kjfk"
    headers = {
        **user.headers("POST", url, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    response = await coord.public.post("/probe/form", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"pubkey": user.pubkey, "name": "kjfk"}


async def test_any_configured_origin_is_accepted(coord: Coordinator, user: NostrSigner) -> None:
    port = coord.public_url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/probe/whoami"  # sent to 127.0.0.1, signed for localhost
    response = await coord.public.get("/probe/whoami", headers=user.headers("GET", url))
    assert response.status_code == 200


def header_cases(base: str, signer: NostrSigner) -> list[tuple[str, str | None, int, str]]:
    url = f"{base}/probe/json"
    good = signer.tags("POST", url, BODY)

    def signed(tags: list[list[str]], **kw: Any) -> str:
        return event_header(signer.event(tags, **kw))

    host, port = base.removeprefix("http://").split(":")
    nested = "Nostr " + base64.b64encode(b"[" * 1400 + b"]" * 1400).decode()
    return [
        ("missing header", None, 401, "no_auth_header"),
        ("other scheme", "Bearer abc", 400, "invalid_auth_format"),
        ("bad base64", "Nostr %%%", 400, "invalid_base_64"),
        ("not an event", "Nostr " + base64.b64encode(b'{"kind":1}').decode(), 400,
         "invalid_event_json"),
        ("deeply nested JSON", nested, 400, "invalid_event_json"),
        ("oversize header", "Nostr " + "A" * MAX_HEADER_CHARS, 400, "header_too_large"),
        ("kind 1", signed(good, kind=1), 401, "invalid_event_kind"),
        ("an hour old", signed(good, created_at=int(time.time()) - 3600), 401,
         "expired_timestamp"),
        ("no u tag", signed([["method", "POST"]]), 400, "invalid_http_data"),
        ("two u tags", signed([["u", url], *good]), 400, "invalid_http_data"),
        ("u not a URL", signed([["u", "not a url"], *good[1:]]), 401, "invalid_url"),
        ("unknown method", signed([good[0], ["method", "FETCH"], good[2]]), 401,
         "invalid_method"),
        ("wrong method", signed([good[0], ["method", "PUT"], good[2]]), 401,
         "url_method_mismatch"),
        ("wrong path", signed([["u", f"{base}/probe/other"], *good[1:]]), 401,
         "url_method_mismatch"),
        ("wrong query", signed([["u", f"{url}?x=1"], *good[1:]]), 401, "url_method_mismatch"),
        ("fragment", signed([["u", f"{url}#frag"], *good[1:]]), 401, "url_method_mismatch"),
        ("empty fragment", signed([["u", f"{url}#"], *good[1:]]), 401, "url_method_mismatch"),
        ("wrong scheme", signed([["u", url.replace("http://", "https://")], *good[1:]]), 401,
         "url_method_mismatch"),
        ("wrong host", signed([["u", url.replace(host, "evil.example")], *good[1:]]), 401,
         "url_method_mismatch"),
        ("wrong port", signed([["u", url.replace(f":{port}", ":1")], *good[1:]]), 401,
         "url_method_mismatch"),
        ("user info", signed([["u", url.replace("http://", "http://me@")], *good[1:]]), 401,
         "url_method_mismatch"),
        ("non-empty content", signed(good, content="hello"), 400, "non_empty_content"),
        ("payload of another body", signed(signer.tags("POST", url, b'{"x":1}')), 400,
         "invalid_payload"),
        ("payload missing with a body", signed(good[:2]), 400, "invalid_payload"),
    ]  # fmt: skip


async def test_rejections_with_type_and_status(coord: Coordinator, user: NostrSigner) -> None:
    for name, header, status, code in header_cases(coord.public_url, user):
        headers = dict(JSON_HEADERS)
        if header is not None:
            headers["Authorization"] = header
        response = await coord.public.post("/probe/json", content=BODY, headers=headers)
        assert error_of(response) == (status, code), name


async def early_in_a_second() -> int:
    """The current second, once at most 0.3 s of it has passed (so a request sent now is
    checked within the same second)."""
    fraction = time.time() % 1
    if fraction > 0.3:
        await asyncio.sleep(1.02 - fraction)
    return int(time.time())


@pytest.mark.parametrize(("skew", "accepted"), [(-61, False), (61, False), (-60, True), (60, True)])
async def test_clock_skew(coord: Coordinator, user: NostrSigner, skew: int, accepted: bool) -> None:
    url = f"{coord.public_url}/probe/whoami"
    now = await early_in_a_second()
    event = user.event(user.tags("GET", url), created_at=now + skew)
    response = await coord.public.get(
        "/probe/whoami", headers={"Authorization": event_header(event)}
    )
    if accepted:
        assert response.status_code == 200
    else:
        assert error_of(response) == (401, "expired_timestamp")


async def test_bad_id_and_bad_signature(coord: Coordinator, user: NostrSigner) -> None:
    url = f"{coord.public_url}/probe/whoami"
    event = user.event(user.tags("GET", url))
    forged_sig = NostrEvent(**{**event.__dict__, "sig": event.sig[:-2] + "00"})
    wrong_id = NostrEvent(**{**event.__dict__, "id": "0" * 64})
    other = NostrSigner(OTHER_SECRET).event(user.tags("GET", url))
    stolen = NostrEvent(**{**other.__dict__, "pubkey": event.pubkey})
    for bad in (forged_sig, wrong_id, stolen):
        response = await coord.public.get(
            "/probe/whoami", headers={"Authorization": event_header(bad)}
        )
        assert error_of(response) == (403, "invalid_signature")


async def test_tampered_body_is_refused(coord: Coordinator, user: NostrSigner) -> None:
    url = f"{coord.public_url}/probe/json"
    headers = {**user.headers("POST", url, BODY), **JSON_HEADERS}
    tampered = BODY.replace(b"3", b"4")
    response = await coord.public.post("/probe/json", content=tampered, headers=headers)
    assert error_of(response) == (400, "invalid_payload")


async def test_host_header_cannot_choose_the_origin(coord: Coordinator, user: NostrSigner) -> None:
    """A header signed for evil.example is refused even when sent with ``Host: evil.example``."""
    url = "http://evil.example/probe/whoami"
    headers = {**user.headers("GET", url), "Host": "evil.example"}
    response = await coord.public.get("/probe/whoami", headers=headers)
    assert error_of(response) == (401, "url_method_mismatch")


async def test_sequential_replay_is_refused(coord: Coordinator, user: NostrSigner) -> None:
    url = f"{coord.public_url}/probe/json"
    event = user.event([*user.tags("POST", url, BODY), ["nonce", "sequential"]])
    headers = {"Authorization": event_header(event), **JSON_HEADERS}
    assert (await coord.public.post("/probe/json", content=BODY, headers=headers)).is_success
    response = await coord.public.post("/probe/json", content=BODY, headers=headers)
    assert error_of(response) == (401, "replayed_event")


async def test_twenty_concurrent_copies_exactly_one_accepted(
    coord: Coordinator, user: NostrSigner
) -> None:
    url = f"{coord.public_url}/probe/json"
    event = user.event([*user.tags("POST", url, BODY), ["nonce", "concurrent"]])
    headers = {"Authorization": event_header(event), **JSON_HEADERS}
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=coord.public_url, limits=limits) as client:
        responses = await asyncio.gather(
            *(client.post("/probe/json", content=BODY, headers=headers) for _ in range(20))
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * 19
    assert all(error_of(r) == (401, "replayed_event") for r in responses if r.status_code != 200)


async def test_replay_guard_full_answers_503(tmp_path: Path, user: NostrSigner) -> None:
    async with running(tmp_path, COORDINATOR__AUTH__REPLAY_CAPACITY="100") as coord:
        url = f"{coord.public_url}/probe/whoami"
        for i in range(100):
            event = user.event([*user.tags("GET", url), ["n", str(i)]])
            response = await coord.public.get(
                "/probe/whoami", headers={"Authorization": event_header(event)}
            )
            assert response.status_code == 200
        response = await coord.public.get("/probe/whoami", headers=user.headers("GET", url))
        assert error_of(response) == (503, "replay_guard_full")


async def test_forwarded_proto_ignored_from_an_untrusted_peer(
    coord: Coordinator, user: NostrSigner
) -> None:
    http_url = f"{coord.public_url}/probe/whoami"
    https_url = http_url.replace("http://", "https://")
    forwarded = {"X-Forwarded-Proto": "https"}
    # The header does not turn the expected URL into https ...
    response = await coord.public.get(
        "/probe/whoami", headers={**user.headers("GET", https_url), **forwarded}
    )
    assert error_of(response) == (401, "url_method_mismatch")
    # ... nor stop the configured origin from matching.
    response = await coord.public.get(
        "/probe/whoami", headers={**user.headers("GET", http_url), **forwarded}
    )
    assert response.status_code == 200


async def test_forwarded_headers_honoured_from_a_trusted_proxy(
    proxied: Coordinator, user: NostrSigner
) -> None:
    public = "https://coordinator.example/probe/whoami"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "coordinator.example"}
    response = await proxied.public.get(
        "/probe/whoami", headers={**user.headers("GET", public), **forwarded}
    )
    assert response.status_code == 200
    # The proxy says the client used https://coordinator.example: an http URL is refused.
    direct = f"{proxied.public_url}/probe/whoami"
    response = await proxied.public.get(
        "/probe/whoami", headers={**user.headers("GET", direct), **forwarded}
    )
    assert error_of(response) == (401, "url_method_mismatch")
    # A forwarded origin that is not configured matches nothing.
    evil = "https://evil.example/probe/whoami"
    response = await proxied.public.get(
        "/probe/whoami",
        headers={**user.headers("GET", evil), "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "evil.example"},
    )  # fmt: skip
    assert error_of(response) == (401, "url_method_mismatch")
