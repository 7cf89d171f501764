"""users.db accounts over HTTP, the username flow driven by the client-side module
(coordinator_core.login_keys) exactly as a player client or the browser runs it."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from argon2 import PasswordHasher

from coordinator_core.login_keys import (
    LoginKeys,
    derive_login_keys,
    open_nsec,
    register_body,
    seal_nsec,
    sign_reset_challenge,
)
from coordinator_core.nostr import npub_decode
from tests.auth.conftest import Coordinator, make_settings, start_coordinator
from tests.support.nostr_auth import NostrSigner

pytestmark = pytest.mark.asyncio(loop_scope="module")

USERS = "/api/v1/users"
WALLET_KEY = "QWxpY2Ugd2FsbGV0IGtleQ=="  # an opaque NIP-44 payload to the server
PASSWORD = "Correct-Horse-9"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def coord(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Coordinator]:
    settings = make_settings(
        tmp_path_factory.mktemp("accounts"),
        COORDINATOR__AUTH__ADDRESS_BURST=10_000,
        COORDINATOR__AUTH__USERNAME_BURST=10_000,
    )
    async with start_coordinator(settings) as coordinator:
        yield coordinator


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def alice(coord: Coordinator) -> tuple[NostrSigner, LoginKeys]:
    """The username account ``alice``, registered through the client module."""
    signer = NostrSigner(secrets.token_bytes(32))
    body = register_body("alice", PASSWORD, signer.secret, "YWxpY2U=", "regtest")
    response = await coord.public.post(f"{USERS}/username/register", json=body)
    assert response.status_code == 201
    assert response.json() == {"nostr_pubkey": signer.npub, "username": "alice"}
    return signer, derive_login_keys("alice", PASSWORD, check_strength=False)


async def signed_post(
    coord: Coordinator, signer: NostrSigner, path: str, body: Any = None
) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    headers = signer.headers("POST", coord.public_url + path, content or None)
    if content:
        headers["Content-Type"] = "application/json"
    return await coord.public.post(path, content=content, headers=headers)


def error_type(response: httpx.Response) -> str:
    return str(response.json()["error"]["type"])


async def stored_row(coord: Coordinator, npub: str) -> dict[str, Any]:
    db = coord.runtime.users_db
    row = await db.read(  # type: ignore[attr-defined]
        lambda c: c.execute("SELECT * FROM user WHERE nostr_pubkey = ?", (npub,)).fetchone()
    )
    return dict(row)


async def test_nostr_register_and_login(coord: Coordinator) -> None:
    bob = NostrSigner(secrets.token_bytes(32))
    missing = await signed_post(coord, bob, f"{USERS}/login")
    assert (missing.status_code, error_type(missing)) == (401, "invalid_login")
    body = {"encrypted_bitcoin_private_key": "Ym9i", "network": "regtest"}
    created = await signed_post(coord, bob, f"{USERS}/register", body)
    assert created.status_code == 201
    user = created.json()
    assert user["nostr_pubkey"] == bob.npub and user["username"] is None
    assert "password_hash" not in user
    logged_in = await signed_post(coord, bob, f"{USERS}/login")
    assert (logged_in.status_code, logged_in.json()) == (201, user)
    again = await signed_post(coord, bob, f"{USERS}/register", body)
    assert again.status_code == 409
    other = NostrSigner(secrets.token_bytes(32))
    wrong_net = await signed_post(
        coord, other, f"{USERS}/register", {**body, "encrypted_bitcoin_private_key": "b3RoZXI="}
    )
    assert wrong_net.status_code == 201
    signet = await signed_post(
        coord, NostrSigner(secrets.token_bytes(32)), f"{USERS}/register",
        {"encrypted_bitcoin_private_key": "c2lnbmV0", "network": "signet"},
    )  # fmt: skip
    assert signet.status_code == 400 and "regtest" in signet.json()["error"]
    unsigned = await coord.public.post(f"{USERS}/register", json=body)
    assert (unsigned.status_code, error_type(unsigned)) == (401, "no_auth_header")


async def test_username_login_returns_the_sealed_key(
    coord: Coordinator, alice: tuple[NostrSigner, LoginKeys]
) -> None:
    signer, keys = alice
    response = await coord.public.post(
        f"{USERS}/username/login", json={"username": "alice", "password": keys.login_key}
    )
    assert response.status_code == 200
    session = response.json()
    assert set(session) == {"encrypted_nsec", "encrypted_bitcoin_private_key", "network",
                            "nostr_pubkey"}  # fmt: skip
    assert session["nostr_pubkey"] == signer.npub
    assert open_nsec(keys.vault_key, session["encrypted_nsec"]) == signer.secret
    # The recovered key logs in with NIP-98 too; no response shows the password hash.
    user = (await signed_post(coord, signer, f"{USERS}/login")).json()
    assert user["username"] == "alice" and "password_hash" not in user
    row = await stored_row(coord, signer.npub)
    assert row["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert keys.login_key not in row["password_hash"]
    case = await coord.public.post(
        f"{USERS}/username/login", json={"username": "ALICE", "password": keys.login_key}
    )
    assert case.status_code == 200


async def test_a_taken_username_answers_the_same_and_changes_nothing(
    coord: Coordinator, alice: tuple[NostrSigner, LoginKeys]
) -> None:
    signer, keys = alice
    intruder = NostrSigner(secrets.token_bytes(32))
    for name in ("alice", "Alice"):
        body = {
            "username": name,
            "password": secrets.token_hex(32),
            "encrypted_nsec": seal_nsec(secrets.token_bytes(32), intruder.secret),
            "nostr_pubkey": intruder.npub,
            "encrypted_bitcoin_private_key": "aW50cnVkZXI=",
            "network": "regtest",
        }
        response = await coord.public.post(f"{USERS}/username/register", json=body)
        assert response.status_code == 201
        assert response.json() == {"nostr_pubkey": intruder.npub, "username": name}
    login = await coord.public.post(
        f"{USERS}/username/login", json={"username": "alice", "password": keys.login_key}
    )
    assert login.json()["nostr_pubkey"] == signer.npub
    assert (await signed_post(coord, intruder, f"{USERS}/login")).status_code == 401


class CountingHasher(PasswordHasher):
    """Argon2 as configured, counting verifications."""

    def __init__(self, inner: PasswordHasher) -> None:
        super().__init__(
            time_cost=inner.time_cost, memory_cost=inner.memory_cost,
            parallelism=inner.parallelism,
        )  # fmt: skip
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)


async def test_unknown_username_and_wrong_password_look_the_same(
    coord: Coordinator, alice: tuple[NostrSigner, LoginKeys]
) -> None:
    accounts = coord.runtime.accounts
    assert accounts is not None
    counting = CountingHasher(accounts.hasher)
    accounts.hasher = counting
    counting.verifications = 0
    answers: dict[str, list[tuple[int, Any]]] = {"wrong": [], "unknown": []}
    for _ in range(3):
        for kind, name in (("wrong", "alice"), ("unknown", f"nobody{secrets.token_hex(4)}")):
            before = counting.verifications
            response = await coord.public.post(
                f"{USERS}/username/login",
                json={"username": name, "password": secrets.token_hex(32)},
            )
            # Same timing class: both paths run exactly one Argon2 verification.
            assert counting.verifications == before + 1
            answers[kind].append((response.status_code, response.json()))
    statuses = {(status, json.dumps(body)) for status, body in answers["wrong"]}
    assert statuses == {(status, json.dumps(body)) for status, body in answers["unknown"]}
    assert statuses == {(401, json.dumps({"error": {
        "type": "invalid_login", "detail": "unknown account or wrong password"}}))}  # fmt: skip


async def test_change_password(coord: Coordinator) -> None:
    carol = NostrSigner(secrets.token_bytes(32))
    body = register_body("carol", PASSWORD, carol.secret, "Y2Fyb2w=", "regtest")
    assert (await coord.public.post(f"{USERS}/username/register", json=body)).status_code == 201
    old = derive_login_keys("carol", PASSWORD, check_strength=False)
    new = derive_login_keys("carol", "Battery-Staple-7")
    change = {
        "current_password": old.login_key,
        "new_password": new.login_key,
        "new_encrypted_nsec": seal_nsec(new.vault_key, carol.secret),
    }
    wrong = await signed_post(
        coord, carol, f"{USERS}/username/change-password",
        {**change, "current_password": secrets.token_hex(32)},
    )  # fmt: skip
    assert (wrong.status_code, error_type(wrong)) == (401, "invalid_login")
    done = await signed_post(coord, carol, f"{USERS}/username/change-password", change)
    assert (done.status_code, done.json()) == (200, {"status": "ok"})
    for keys, status in ((old, 401), (new, 200)):
        response = await coord.public.post(
            f"{USERS}/username/login", json={"username": "carol", "password": keys.login_key}
        )
        assert response.status_code == status
    assert open_nsec(new.vault_key, response.json()["encrypted_nsec"]) == carol.secret
    nostr_only = NostrSigner(secrets.token_bytes(32))
    await signed_post(
        coord, nostr_only, f"{USERS}/register",
        {"encrypted_bitcoin_private_key": "bm9zdHI=", "network": "regtest"},
    )  # fmt: skip
    refused = await signed_post(coord, nostr_only, f"{USERS}/username/change-password", change)
    assert (refused.status_code, error_type(refused)) == (400, "not_a_username_account")


async def forgot(coord: Coordinator, username: str) -> dict[str, str]:
    response = await coord.public.post(
        f"{USERS}/username/forgot-password", json={"username": username}
    )
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    assert set(body) == {"challenge", "nostr_pubkey"}
    return body


def reset_body(username: str, challenge: str, signed: str, keys: LoginKeys, secret: bytes) -> Any:
    return {
        "username": username,
        "challenge": challenge,
        "signed_event": signed,
        "new_password": keys.login_key,
        "new_encrypted_nsec": seal_nsec(keys.vault_key, secret),
    }


async def test_reset_password_with_a_signed_challenge(coord: Coordinator) -> None:
    dave = NostrSigner(secrets.token_bytes(32))
    body = register_body("dave", PASSWORD, dave.secret, "ZGF2ZQ==", "regtest")
    assert (await coord.public.post(f"{USERS}/username/register", json=body)).status_code == 201
    new = derive_login_keys("dave", "Battery-Staple-7")
    issued = await forgot(coord, "dave")
    assert issued["nostr_pubkey"] == dave.npub
    challenge = issued["challenge"]
    reset_path = f"{USERS}/username/reset-password"
    other = NostrSigner(secrets.token_bytes(32))
    bad_signatures = [
        sign_reset_challenge(other.secret, challenge),  # another key
        sign_reset_challenge(dave.secret, "00" * 32),  # another challenge
        json.dumps({**json.loads(sign_reset_challenge(dave.secret, challenge)), "kind": 1}),
        "[" * 3000 + "]" * 3000,
        "not json",
    ]
    for signed in bad_signatures:
        refused = await coord.public.post(
            reset_path, json=reset_body("dave", challenge, signed, new, dave.secret)
        )
        assert refused.status_code in (400, 401)
        if refused.status_code == 401:
            assert error_type(refused) == "invalid_reset"
    good = reset_body("dave", challenge, sign_reset_challenge(dave.secret, challenge), new,
                      dave.secret)  # fmt: skip
    done = await coord.public.post(reset_path, json=good)
    assert (done.status_code, done.json()) == (200, {"status": "ok"})
    login = await coord.public.post(
        f"{USERS}/username/login", json={"username": "dave", "password": new.login_key}
    )
    assert open_nsec(new.vault_key, login.json()["encrypted_nsec"]) == dave.secret
    reused = await coord.public.post(reset_path, json=good)
    assert (reused.status_code, error_type(reused)) == (401, "invalid_reset")

    # An expired challenge (its 300 s passed) is refused.
    stale = (await forgot(coord, "dave"))["challenge"]
    await coord.runtime.users_db.write(  # type: ignore[attr-defined]
        lambda c: c.execute(
            "UPDATE password_reset_challenge SET expires_at = ? WHERE challenge = ?",
            (int(time.time()) - 1, stale),
        )
    )
    expired = await coord.public.post(
        reset_path,
        json=reset_body("dave", stale, sign_reset_challenge(dave.secret, stale), new, dave.secret),
    )
    assert (expired.status_code, error_type(expired)) == (401, "invalid_reset")
    ttl = coord.group.settings.auth.reset_challenge_ttl_secs
    fresh = (await forgot(coord, "dave"))["challenge"]
    expires_at = await coord.runtime.users_db.read(  # type: ignore[attr-defined]
        lambda c: c.execute(
            "SELECT expires_at FROM password_reset_challenge WHERE challenge = ?", (fresh,)
        ).fetchone()[0]
    )
    assert ttl == 300 and abs(expires_at - (int(time.time()) + 300)) <= 2


async def test_unknown_username_reset_looks_like_a_real_one(coord: Coordinator) -> None:
    decoy = await forgot(coord, "nosuchuser")
    assert len(npub_decode(decoy["nostr_pubkey"])) == 32
    assert (await forgot(coord, "NoSuchUser"))["nostr_pubkey"] == decoy["nostr_pubkey"]
    keys = derive_login_keys("nosuchuser", "Battery-Staple-7")
    secret = secrets.token_bytes(32)
    signed = sign_reset_challenge(secret, decoy["challenge"])
    response = await coord.public.post(
        f"{USERS}/username/reset-password",
        json=reset_body("nosuchuser", decoy["challenge"], signed, keys, secret),
    )
    assert (response.status_code, error_type(response)) == (401, "invalid_reset")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/username/login", {"username": "alice", "password": "Correct-Horse-9"}),
        ("/username/login", {"username": "a", "password": "00" * 32}),
        ("/username/register", {"username": "eve", "password": "weak"}),
        ("/username/forgot-password", {"username": "x" * 40}),
        ("/username/reset-password", {"username": "eve", "challenge": "zz"}),
    ],
)
async def test_malformed_input_is_a_clear_400(coord: Coordinator, path: str, body: Any) -> None:
    response = await coord.public.post(USERS + path, json=body)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)
    assert "Correct-Horse-9" not in response.text


async def test_authorization_headers_are_never_logged(
    coord: Coordinator, caplog: pytest.LogCaptureFixture
) -> None:
    signer = NostrSigner(secrets.token_bytes(32))
    header = signer.header("POST", coord.public_url + f"{USERS}/login")
    caplog.set_level("DEBUG")
    for headers in ({"Authorization": header}, {"Authorization": header + "x"}):
        await coord.public.post(f"{USERS}/login", headers=headers)
    bearer = f"Bearer {coord.admin_token}"
    await coord.admin.get("/admin/api/whoami", headers={"Authorization": bearer})
    await asyncio.sleep(0.05)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert header[6:40] not in logged and coord.admin_token not in logged
