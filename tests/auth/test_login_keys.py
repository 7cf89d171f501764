"""The client side of username accounts (coordinator_core.login_keys) and its primitives."""

from __future__ import annotations

import base64
import json

import pytest

from coordinator_core import xchacha
from coordinator_core.login_keys import (
    VAULT_AAD,
    LoginKeyError,
    check_password,
    check_username,
    derive_login_keys,
    open_nsec,
    password_problems,
    register_body,
    seal_nsec,
    sign_reset_challenge,
    username_salt,
)
from coordinator_core.nostr import NostrEvent, nsec_decode, nsec_encode, verify_event
from coordinator_core.pow import solve, work_bits
from ticketdlc.crypto.secp import tagged_hash

SECRET = bytes.fromhex("5e" * 32)


def test_hchacha20_draft_vector() -> None:
    # draft-irtf-cfrg-xchacha-03 §2.2.1
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    assert xchacha.hchacha20(key, nonce).hex() == (
        "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    )


def test_xchacha20_poly1305_draft_vector() -> None:
    # draft-irtf-cfrg-xchacha-03 §A.3.1
    key = bytes(range(0x80, 0xA0))
    nonce = bytes(range(0x40, 0x58))
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    plaintext = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
        b"the future, sunscreen would be it."
    )
    expected = bytes.fromhex(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
        "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
        "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
        "21f9664c97637da9768812f615c68b13b52e"
        "c0875924c1c7987947deafd8780acf49"
    )
    assert xchacha.encrypt(key, nonce, plaintext, aad) == expected
    assert xchacha.decrypt(key, nonce, expected, aad) == plaintext
    for tampered in (expected[:-1] + bytes([expected[-1] ^ 1]), expected[1:]):
        with pytest.raises(xchacha.XChaChaError):
            xchacha.decrypt(key, nonce, tampered, aad)
    with pytest.raises(xchacha.XChaChaError):
        xchacha.decrypt(key, nonce, expected, aad + b"x")


@pytest.mark.parametrize(
    ("password", "lacks"),
    [
        ("Short1!", "at least 10 characters"),
        ("alllowercase1!", "an upper-case letter"),
        ("ALLUPPERCASE1!", "a lower-case letter"),
        ("NoDigitsHere!", "a digit"),
        ("NoSpecials123", "a character that is not a letter or digit"),
    ],
)
def test_weak_passwords_are_refused_before_anything_is_derived(password: str, lacks: str) -> None:
    assert lacks in password_problems(password)
    with pytest.raises(LoginKeyError, match=lacks):
        check_password(password)
    with pytest.raises(LoginKeyError, match=lacks):
        register_body("alice", password, SECRET, "d2FsbGV0", "regtest")
    assert password_problems("Correct-Horse-9") == []


@pytest.mark.parametrize("name", ["ab", "1abc", "a" * 33, "al ice", "al\nice", "alice\n", ""])
def test_usernames_are_checked(name: str) -> None:
    with pytest.raises(LoginKeyError):
        check_username(name)


def test_derivation_is_the_documented_construction() -> None:
    import hashlib

    keys = derive_login_keys("Alice", "Correct-Horse-9")
    assert username_salt("Alice") == username_salt("alice") == tagged_hash("login-salt", b"alice")
    stretched = hashlib.scrypt(
        b"Correct-Horse-9", salt=tagged_hash("login-salt", b"alice"), n=1 << 17, r=8, p=1,
        maxmem=256 * 1024 * 1024, dklen=32,
    )  # fmt: skip
    assert keys.auth_key == tagged_hash("login-auth", stretched)
    assert keys.vault_key == tagged_hash("login-vault", stretched)
    assert keys.login_key == keys.auth_key.hex() and keys.auth_key != keys.vault_key
    assert "redacted" in repr(keys)

    sealed = seal_nsec(keys.vault_key, SECRET)
    raw = base64.b64decode(sealed)
    plaintext = xchacha.decrypt(keys.vault_key, raw[:24], raw[24:], VAULT_AAD)
    assert plaintext.decode() == nsec_encode(SECRET)
    assert open_nsec(keys.vault_key, sealed) == SECRET
    assert seal_nsec(keys.vault_key, SECRET) != sealed  # fresh nonce each time
    with pytest.raises(LoginKeyError, match="does not open"):
        open_nsec(keys.auth_key, sealed)
    with pytest.raises(LoginKeyError):
        open_nsec(keys.vault_key, "not base64!")


def test_nsec_round_trip() -> None:
    assert nsec_decode(nsec_encode(SECRET)) == SECRET
    with pytest.raises(ValueError, match="nsec"):
        nsec_decode("npub1" + nsec_encode(SECRET)[5:])


def test_reset_signature_is_a_kind_27235_event_over_the_challenge() -> None:
    event = NostrEvent.from_json(json.loads(sign_reset_challenge(SECRET, "ab" * 32)))
    verify_event(event)
    assert (event.kind, event.content, event.tags) == (27235, "ab" * 32, ())


def test_proof_of_work_solver_meets_the_difficulty() -> None:
    challenge = base64.urlsafe_b64encode(bytes(41)).decode().rstrip("=")
    nonce = solve(challenge, 10)
    assert work_bits(challenge, nonce) >= 10
