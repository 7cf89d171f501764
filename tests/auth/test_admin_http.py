"""The admin listener over HTTP: every route refuses anonymous and non-admin callers, and
accepts the token, an admin npub and a session (with CSRF for state changes)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi.routing import iter_route_contexts

from coordinator.app.auth.admin import SESSION_COOKIE, session_cookie_value
from coordinator.app.auth.admin_token import AdminToken
from tests.auth.conftest import OTHER_SECRET, Coordinator, make_settings, start_coordinator
from tests.support.nostr_auth import NostrSigner

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Routes that must accept anonymous callers: the token login (how a session starts) and the
# static assets its page loads (the same public files the public listener serves).
ANONYMOUS = {("POST", "/admin/login"), ("GET", "/assets/{name}")}
SAFE = {"GET", "HEAD", "OPTIONS"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def coord(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Coordinator]:
    settings = make_settings(tmp_path_factory.mktemp("admin"))
    async with start_coordinator(settings) as coordinator:
        yield coordinator


def admin_routes(coord: Coordinator) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the admin app (path parameters filled)."""
    routes = []
    for route in iter_route_contexts(coord.group.apps["admin"].routes):
        assert route.path is not None and route.methods, f"unexpected route {route!r}"
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)
        for method in sorted(route.methods):
            if (method, route.path) not in ANONYMOUS:
                routes.append((method, path))
    assert routes, "the admin app has no routes"
    return routes


async def call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.request(method, path, headers=headers)


def assert_not_authenticated(response: httpx.Response, method: str, path: str) -> None:
    """401, or for a page the token login form in its place (nothing of the operator's)."""
    if method == "GET" and response.headers["content-type"].startswith("text/html"):
        assert response.status_code in (200, 401), (method, path)
        assert 'id="adminToken"' in response.text, (method, path)
        return
    assert response.status_code == 401, (method, path)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_every_admin_route_refuses_anonymous_callers(coord: Coordinator) -> None:
    for method, path in admin_routes(coord):
        response = await call(coord.admin, method, path, {})
        assert_not_authenticated(response, method, path)
        if response.headers["content-type"].startswith("application/json"):
            assert response.json()["error"]["type"] == "no_auth_header"


async def test_every_admin_route_refuses_a_wrong_token(coord: Coordinator) -> None:
    for method, path in admin_routes(coord):
        headers = {"Authorization": "Bearer " + "x" * 40}
        response = await call(coord.admin, method, path, headers)
        assert_not_authenticated(response, method, path)


async def test_every_admin_route_refuses_a_non_admin_npub(coord: Coordinator) -> None:
    other = NostrSigner(OTHER_SECRET)
    for method, path in admin_routes(coord):
        headers = other.headers(method, coord.admin_url + path)
        response = await call(coord.admin, method, path, headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["type"] == "not_admin"


async def test_every_admin_route_accepts_the_token(coord: Coordinator) -> None:
    for method, path in admin_routes(coord):
        headers = {"Authorization": f"Bearer {coord.admin_token}"}
        response = await call(coord.admin, method, path, headers)
        assert response.status_code not in (401, 403), (method, path, response.text)


async def test_every_admin_route_accepts_an_admin_npub(
    coord: Coordinator, admin_signer: NostrSigner
) -> None:
    for method, path in admin_routes(coord):
        headers = admin_signer.headers(method, coord.admin_url + path)
        response = await call(coord.admin, method, path, headers)
        assert response.status_code not in (401, 403), (method, path, response.text)


async def test_admin_npub_signing_for_the_public_origin_is_refused(
    coord: Coordinator, admin_signer: NostrSigner
) -> None:
    headers = admin_signer.headers("GET", coord.public_url + "/admin/api/whoami")
    response = await coord.admin.get("/admin/api/whoami", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "url_method_mismatch"


async def test_whoami_names_the_method(coord: Coordinator, admin_signer: NostrSigner) -> None:
    token = await coord.admin.get(
        "/admin/api/whoami", headers={"Authorization": f"Bearer {coord.admin_token}"}
    )
    assert token.json() == {"method": "token", "pubkey": None}
    url = coord.admin_url + "/admin/api/whoami"
    nostr = await coord.admin.get("/admin/api/whoami", headers=admin_signer.headers("GET", url))
    assert nostr.json() == {"method": "nostr", "pubkey": admin_signer.pubkey}


async def login(coord: Coordinator) -> tuple[str, str]:
    response = await coord.admin.post("/admin/login", data={"token": coord.admin_token})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    session = cookie.split(";")[0].split("=", 1)[1]
    return session, response.json()["csrf_token"]


async def test_session_cookie_and_csrf(coord: Coordinator) -> None:
    session, csrf = await login(coord)
    cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
    for method, path in admin_routes(coord):
        plain = await call(coord.admin, method, path, cookie)
        if method in SAFE:
            assert plain.status_code not in (401, 403), (method, path)
            continue
        assert plain.status_code == 403, (method, path)
        assert plain.json()["error"]["type"] == "csrf_failed"
        wrong = await call(coord.admin, method, path, {**cookie, "X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403, (method, path)
    # With the CSRF token a state change goes through (logout is the last: it is one).
    for method, path in admin_routes(coord):
        if method not in SAFE:
            headers = {**cookie, "X-CSRF-Token": csrf}
            response = await call(coord.admin, method, path, headers)
            assert response.status_code not in (401, 403), (method, path)


async def test_wrong_login_token_expired_or_forged_sessions(coord: Coordinator) -> None:
    response = await coord.admin.post("/admin/login", data={"token": "y" * 40})
    assert response.status_code == 401
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    token = AdminToken(coord.admin_token)
    expired = session_cookie_value(token, int(time.time()) - 1)
    forged = session_cookie_value(AdminToken("z" * 40), int(time.time()) + 3600)
    for session in (expired, forged, "garbage", f"{int(time.time()) + 60}."):
        response = await coord.admin.get(
            "/admin/api/whoami", headers={"Cookie": f"{SESSION_COOKIE}={session}"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "session_expired"


async def test_a_wrong_bearer_never_falls_back_to_the_cookie(coord: Coordinator) -> None:
    session, _ = await login(coord)
    headers = {"Cookie": f"{SESSION_COOKIE}={session}", "Authorization": "Bearer " + "w" * 40}
    response = await coord.admin.get("/admin/api/whoami", headers=headers)
    assert response.status_code == 401


async def test_public_listener_serves_no_operator_route(coord: Coordinator) -> None:
    bearer = {"Authorization": f"Bearer {coord.admin_token}"}
    for method, path in [*admin_routes(coord), ("POST", "/admin/login")]:
        response = await call(coord.public, method, path, bearer)
        assert response.status_code in (404, 405), (method, path)
    assert ("GET", "/assets/{name}") in ANONYMOUS  # the one route both listeners serve
    for path in ("/admin", "/admin/", "/api/v1/admin/openapi.json"):
        assert (await coord.public.get(path, headers=bearer)).status_code == 404


async def test_admin_responses_are_not_framed_or_cached(coord: Coordinator) -> None:
    response = await coord.admin.get("/admin/api/whoami")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "access-control-allow-origin" not in response.headers


async def test_admin_listener_has_no_anonymous_docs(coord: Coordinator) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await coord.admin.get(path)).status_code == 404
    schema = await coord.admin.get(
        "/api/v1/admin/openapi.json", headers={"Authorization": f"Bearer {coord.admin_token}"}
    )
    assert "/admin/api/whoami" in schema.json()["paths"]
