"""keymeld encodings against both specifications' Appendix A values, and their round trips."""

from __future__ import annotations

import hashlib

import pytest

from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.crypto import KeymeldCryptoError, SessionCipher
from coordinator_core.keymeld.proofs import (
    SESSION_DOMAIN,
    ProofError,
    parse_proof,
    proof_digest,
    session_proof,
    user_proof,
    verify_proof,
)
from coordinator_core.keymeld.wire import btree, btree_int, canonical
from ticketdlc.crypto import ecdsa

SEED = bytes.fromhex("11" * 32)
PARTICIPANT = bytes.fromhex("42" * 32)
KEYGEN_ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
SIGNING_ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"
USER_ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d"
TS = 1_800_000_000
ZERO_NONCE = bytes(16)


def test_base_appendix_a_derivations() -> None:
    auth = crypto.session_auth_secret(SEED)
    assert auth.hex() == "aa09950cdaa022b5ef131ac7ee41c579644e747e40831c2a65e40c4cd9906459"
    assert crypto.public_key(auth).hex() == (
        "02273ce3f5b5298d218fd3578a9f66cf331a18fd13ebbf79dd14f8d5fc4a882824"
    )
    assert crypto.public_key(PARTICIPANT).hex() == (
        "0324653eac434488002cc06bbfb7f10fe18991e35f9fe4302dbea6d2353dc0ab1c"
    )
    assert crypto.user_auth_pubkey(PARTICIPANT, KEYGEN_ID).hex() == (
        "03171423065c0444cab2ac369b7510e112326d4be438795a62e1c6abd46d9314fd"
    )
    assert crypto.user_auth_pubkey(PARTICIPANT, crypto.SINGLE_SIGNER_SCOPE).hex() == (
        "03c1d1ba6a05cd273bb151ca8a216bb7169586ec656f666829b0f82fa850441b4d"
    )
    assert crypto.hkdf32(SEED, None, b"signature").hex() == (
        "ea083397d4383589b1032a4187b3b95473c16660fa64b678bb69b5c4c1249229"
    )


def test_base_appendix_a_encrypted_data() -> None:
    cipher = SessionCipher(SEED)
    blob = cipher.encrypt("session_data", b"ab" * 32, bytes(12))
    assert blob.hex() == (
        "0c73657373696f6e5f6461746100000000000000000000000064fb6ce173056c335c0731999e6ffbd06f6c"
        "b3d54f32f747b69a90b131635f47f3e784e498547e14d5d7f7b2adfd70a4a7266e6effb8dda65589efc180"
        "d2f5e75b5b6d3f3a0401c9583d9fce86583db7"
    )
    assert cipher.decrypt("session_data", blob) == b"ab" * 32
    with pytest.raises(KeymeldCryptoError, match="another context"):
        cipher.decrypt("signature", blob)
    tampered = blob[:-1] + bytes((blob[-1] ^ 1,))
    with pytest.raises(KeymeldCryptoError, match="does not open"):
        cipher.decrypt("session_data", tampered)
    with pytest.raises(KeymeldCryptoError):
        SessionCipher(bytes(32)).decrypt("session_data", blob)


def legacy_session_header(auth_secret: bytes, session_id: str, nonce_hex: str) -> str:
    """The 0.3 header ``nonce:sig`` over ``SHA256("<session_id>:<nonce_hex>")``."""
    digest = hashlib.sha256(f"{session_id}:{nonce_hex}".encode()).digest()
    return f"{nonce_hex}:{ecdsa.sign(auth_secret, digest).hex()}"


def test_base_appendix_a_legacy_header_is_not_a_v1_proof() -> None:
    auth = crypto.session_auth_secret(SEED)
    legacy = legacy_session_header(auth, KEYGEN_ID, "00" * 16)
    assert legacy == (
        "00000000000000000000000000000000:29baa92cd73256fe19e9109b690c021d551609d76122b123bb09b25c"
        "1ec1178a0cea52a5f7b0e29649b4115e610d6d54e01b4a8b9dbaafbb8d5cc5629026364a"
    )
    with pytest.raises(ProofError, match="malformed"):
        parse_proof(legacy)


def test_addendum_appendix_a_proofs() -> None:
    auth = crypto.session_auth_secret(SEED)
    digest = proof_digest(SESSION_DOMAIN, KEYGEN_ID, "", TS, ZERO_NONCE)
    assert digest.hex() == "f9254dc53434d754df6b4e804983c762a0741ec2d52494cfb9a00dbfc58a2332"
    header = session_proof(auth, KEYGEN_ID, timestamp=TS, nonce=ZERO_NONCE)
    assert header == (
        "v1:1800000000:00000000000000000000000000000000:909756eeff05bd80ae09dce9857bcf3038704776cc3e"
        "bd4296eb12aa896509226f0a23d2d2034dca354f9651b0028dcb0fd077634c22fd3f07f7165b376bfc3b"
    )
    user_auth = crypto.user_auth_secret(PARTICIPANT, KEYGEN_ID)
    assert user_proof(user_auth, SIGNING_ID, USER_ID, timestamp=TS, nonce=ZERO_NONCE) == (
        "v1:1800000000:00000000000000000000000000000000:538f5f9c793823257d847ec573f88d5749e5a2ac343a"
        "a932d473f319f69ca28e590fc80c78baf249692f8d585a644982d42df0402f091a374a24e1f8cdc1252a"
    )
    pubkey = crypto.public_key(auth)
    assert verify_proof(header, pubkey, SESSION_DOMAIN, KEYGEN_ID, now=TS)
    with pytest.raises(ProofError, match="expired"):
        verify_proof(header, pubkey, SESSION_DOMAIN, KEYGEN_ID, now=TS + 301)
    with pytest.raises(ProofError, match="future"):
        verify_proof(header, pubkey, SESSION_DOMAIN, KEYGEN_ID, now=TS - 31)
    with pytest.raises(ProofError, match="does not verify"):
        verify_proof(header, pubkey, SESSION_DOMAIN, SIGNING_ID, now=TS)


def test_addendum_appendix_a_authorization_digest_of_a_body() -> None:
    body = {
        "key_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e",
        "user_id": USER_ID,
        "auth_pubkey": list(crypto.user_auth_pubkey(PARTICIPANT, crypto.SINGLE_SIGNER_SCOPE)),
    }
    assert crypto.authorization_digest("reserve-user-key", body).hex() == (
        "3c30e484fb56ee1318fa91aed5da67a075d9c8e3fa42ccbae50ab472a72d383c"
    )


@pytest.mark.parametrize(
    "header",
    [
        "v1:01800000000:" + "00" * 16 + ":" + "00" * 64,  # leading zero
        "v1:1800000000:" + "00" * 15 + ":" + "00" * 64,  # short nonce
        "v1:1800000000:" + "00" * 16 + ":" + "00" * 63,  # short signature
        "v2:1800000000:" + "00" * 16 + ":" + "00" * 64,
        "v1:1800000000:" + "00" * 16 + ":" + "00" * 64 + ":x",
    ],
)
def test_proofs_are_parsed_strictly(header: str) -> None:
    with pytest.raises(ProofError):
        parse_proof(header)


def test_ecies_round_trip_and_wrong_key() -> None:
    recipient = bytes.fromhex("07" * 32)
    blob = crypto.ecies_encrypt(crypto.public_key(recipient), b"secret key bytes")
    assert len(blob) == crypto.ECIES_OVERHEAD + len(b"secret key bytes")
    assert crypto.ecies_decrypt(recipient, blob) == b"secret key bytes"
    with pytest.raises(KeymeldCryptoError):
        crypto.ecies_decrypt(bytes.fromhex("08" * 32), blob)
    with pytest.raises(KeymeldCryptoError, match="too short"):
        crypto.ecies_decrypt(recipient, blob[:44])


def test_ecies_uses_libsecp256k1_default_ecdh() -> None:
    """``shared = SHA256(0x02|parity ‖ x)`` of the ECDH point (keymeld §3.4)."""
    ephemeral, recipient = bytes.fromhex("05" * 32), bytes.fromhex("06" * 32)
    nonce = bytes(12)
    blob = crypto.ecies_encrypt(
        crypto.public_key(recipient), b"x", ephemeral_secret=ephemeral, nonce=nonce
    )
    from ticketdlc.crypto.secp import Point

    shared_point = Point.from_bytes(crypto.public_key(recipient)) * int.from_bytes(ephemeral, "big")
    shared = hashlib.sha256(shared_point.to_bytes()).digest()
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    expected = AESGCM(crypto.hkdf32(shared, None, crypto.ECIES_INFO)).encrypt(nonce, b"x", None)
    assert blob == crypto.public_key(ephemeral) + nonce + expected


def test_canonical_json_is_serde_compact() -> None:
    value = {
        "b": [1, 2],
        "a": btree({"z": None, "m": True}),
        "e": btree_int({10: "ten", 2: "two"}),
        "s": "ü/\n",
    }
    assert (
        canonical(value)
        == '{"b":[1,2],"a":{"m":true,"z":null},"e":{"2":"two","10":"ten"},"s":"ü/\\n"}'.encode()
    )


def test_ecdsa_signatures_are_low_s_and_high_s_is_refused() -> None:
    from ticketdlc.crypto.secp import CURVE_ORDER

    secret = bytes.fromhex("33" * 32)
    digest = hashlib.sha256(b"m").digest()
    signature = ecdsa.sign(secret, digest)
    s = int.from_bytes(signature[32:], "big")
    assert s <= CURVE_ORDER // 2
    high = signature[:32] + (CURVE_ORDER - s).to_bytes(32, "big")
    pubkey = crypto.public_key(secret)
    assert ecdsa.verify(pubkey, digest, signature)
    assert not ecdsa.verify(pubkey, digest, high)


def test_peer_json_is_read_strictly() -> None:
    from coordinator_core.keymeld.wire import WireError, as_bytes, as_uuid, loads

    with pytest.raises(WireError, match="duplicate key"):
        loads(b'{"a": 1, "b": {"c": 1, "c": 2}}', "body", 1024)
    with pytest.raises(WireError, match="larger than"):
        loads(b"[" + b"1," * 600 + b"1]", "body", 1024)
    with pytest.raises(WireError, match="not JSON"):
        loads(b'{"a": NaN}', "body", 1024)
    with pytest.raises(WireError, match="integers 0–255"):
        as_bytes([1, True, 3], "bytes")
    with pytest.raises(WireError, match="integers 0–255"):
        as_bytes([1, 256], "bytes")
    with pytest.raises(WireError, match="expected 3 bytes"):
        as_bytes([1, 2], "bytes", 3)
    assert as_uuid("0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B", "id") == KEYGEN_ID
    with pytest.raises(WireError):
        as_uuid("0190a1b2c3d47e5f8a9b0c1d2e3f4a5b", "id")


def test_encrypted_data_hex_is_read_strictly() -> None:
    cipher = SessionCipher(bytes(range(32)))
    text = cipher.encrypt_hex("session_data", b"payload")
    assert cipher.decrypt_hex("session_data", text.upper()) == b"payload"
    for bad in (text[:2] + " " + text[2:], text + "\n", text[:-1], text[:-1] + "g", "é" + text):
        with pytest.raises(KeymeldCryptoError, match="not hex"):
            cipher.decrypt_hex("session_data", bad)
