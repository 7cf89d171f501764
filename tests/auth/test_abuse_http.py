"""Abuse limits over HTTP: attempts per client address and per username (429 with
Retry-After), the client address from a trusted proxy only, and sign-up proof of work."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from coordinator_core.login_keys import derive_login_keys, register_body, seal_nsec
from coordinator_core.pow import solve, work_bits
from tests.auth.conftest import make_settings, start_coordinator
from tests.support.nostr_auth import NostrSigner

USERS = "/api/v1/users"
PASSWORD = "Correct-Horse-9"


def login_body(username: str) -> dict[str, str]:
    return {"username": username, "password": secrets.token_hex(32)}


async def test_attempts_are_limited_per_username_and_per_address(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        COORDINATOR__AUTH__USERNAME_BURST=3,
        COORDINATOR__AUTH__USERNAME_ATTEMPTS_PER_MINUTE=1,
        COORDINATOR__AUTH__ADDRESS_BURST=6,
        COORDINATOR__AUTH__ADDRESS_ATTEMPTS_PER_MINUTE=1,
        COORDINATOR__API__TRUSTED_PROXIES='["127.0.0.1"]',
    )
    async with start_coordinator(settings) as coord:
        path = f"{USERS}/username/login"
        # Behind the trusted proxy, clients are told apart by X-Real-IP.
        client = {"X-Real-IP": "203.0.113.7"}
        statuses = [
            (await coord.public.post(path, json=login_body("victim"), headers=client)).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        limited = await coord.public.post(path, json=login_body("victim"), headers=client)
        assert limited.json()["error"]["type"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # The same username is limited from any address ...
        other = {"X-Real-IP": "198.51.100.9"}
        response = await coord.public.post(path, json=login_body("victim"), headers=other)
        assert response.status_code == 429
        # ... and an address is limited whatever the usernames (6 attempts so far).
        for i in range(6):
            response = await coord.public.post(path, json=login_body(f"user{i}"), headers=other)
        assert response.status_code == 429
        fresh = {"X-Real-IP": "192.0.2.1"}
        response = await coord.public.post(path, json=login_body("someone"), headers=fresh)
        assert response.status_code == 401


async def test_client_address_headers_from_untrusted_peers_are_ignored(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        COORDINATOR__AUTH__ADDRESS_BURST=2,
        COORDINATOR__AUTH__ADDRESS_ATTEMPTS_PER_MINUTE=1,
    )
    async with start_coordinator(settings) as coord:
        path = f"{USERS}/username/forgot-password"
        statuses = [
            (
                await coord.public.post(
                    path,
                    json={"username": f"name{i}"},
                    headers={"X-Real-IP": f"203.0.113.{i}"},
                )
            ).status_code
            for i in range(3)
        ]
        assert statuses == [200, 200, 429]


def username_body(signer: NostrSigner, name: str) -> dict[str, str]:
    return {
        "username": name,
        "password": secrets.token_hex(32),
        "encrypted_nsec": seal_nsec(secrets.token_bytes(32), signer.secret),
        "nostr_pubkey": signer.npub,
        "encrypted_bitcoin_private_key": "d2FsbGV0" + secrets.token_hex(4),
        "network": "regtest",
    }


async def test_signup_proof_of_work(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        COORDINATOR__POW__ENABLED="true",
        COORDINATOR__POW__BASE_BITS=8,
        COORDINATOR__POW__MAX_BITS=10,
        COORDINATOR__AUTH__ADDRESS_BURST=1000,
    )
    async with start_coordinator(settings) as coord:
        signer = NostrSigner(secrets.token_bytes(32))
        body = username_body(signer, "powuser")
        path = f"{USERS}/username/register"

        async def register(extra: dict[str, str]) -> tuple[int, str | None]:
            response = await coord.public.post(path, json={**body, **extra})
            error = response.json().get("error")
            return response.status_code, error["detail"] if isinstance(error, dict) else None

        assert await register({}) == (400, "missing")
        issued = (await coord.public.post(f"{USERS}/pow")).json()
        assert issued["difficulty"] == 8 and issued["expires_at"] > 0
        challenge = issued["challenge"]
        nonce = solve(challenge, issued["difficulty"])
        wrong = next(n for n in range(1 << 20) if work_bits(challenge, n) < 8)
        assert await register({"pow_challenge": challenge, "pow_nonce": str(wrong)}) == (
            400,
            "wrong_nonce",
        )
        forged = challenge[:-2] + ("AA" if challenge[-2:] != "AA" else "BB")
        assert await register({"pow_challenge": forged, "pow_nonce": "1"}) == (400, "forged")
        solved = {"pow_challenge": challenge, "pow_nonce": str(nonce)}
        assert await register(solved) == (201, None)
        assert await register(solved) == (400, "reused")
        # The N98 sign-up needs it too.
        url = coord.public_url + f"{USERS}/register"
        content = json.dumps({"encrypted_bitcoin_private_key": "bm9zdHI=", "network": "regtest"})
        headers = {**signer.headers("POST", url, content.encode()),
                   "Content-Type": "application/json"}  # fmt: skip
        response = await coord.public.post(f"{USERS}/register", content=content, headers=headers)
        assert (response.status_code, response.json()["error"]["type"]) == (400, "pow_rejected")


async def test_a_successful_login_gives_the_username_its_budget_back(tmp_path: Path) -> None:
    """Only failures use up a username's attempts: an owner who mistypes once a day is never
    locked out by their own successful logins."""
    settings = make_settings(
        tmp_path,
        COORDINATOR__AUTH__USERNAME_BURST=3,
        COORDINATOR__AUTH__USERNAME_ATTEMPTS_PER_MINUTE=1,
    )
    async with start_coordinator(settings) as coord:
        owner = NostrSigner(secrets.token_bytes(32))
        body = register_body("carol", PASSWORD, owner.secret, "Y2Fyb2w=", "regtest")
        assert (await coord.public.post(f"{USERS}/username/register", json=body)).status_code == 201
        good = {"username": "carol", "password": derive_login_keys("carol", PASSWORD).login_key}
        path = f"{USERS}/username/login"
        statuses = []
        for _ in range(3):
            statuses.append((await coord.public.post(path, json=login_body("carol"))).status_code)
            statuses.append((await coord.public.post(path, json=good)).status_code)
        assert statuses == [401, 200] * 3
        # Failures alone still run out.
        failures = [(await coord.public.post(path, json=login_body("carol"))).status_code
                    for _ in range(4)]  # fmt: skip
        assert failures == [401, 401, 401, 429]
