"""NIP-44 v2 against values of the NIP's published test vectors (nip44.vectors.json, v2)."""

from __future__ import annotations

import base64

import pytest

from coordinator_core.nip44 import (
    Nip44Error,
    conversation_key,
    decrypt,
    decrypt_from_self,
    encrypt,
    encrypt_to_self,
    padded_length,
)
from ticketdlc.crypto.secp import Point

CONVERSATION_KEYS = [
    (  # sec1, pub2 (x-only), conversation key
        "315e59ff51cb9209768cf7da80791ddcaae56ac9775eb25b6dee1234bc5d2268",
        "c2f9d9948dc8c7c38321e4b85c8558872eafa0641cd269db76848a6073e69133",
        "3dfef0ce2a4d80a25e7a328accf73448ef67096f65f79588e358d9a0eb9013f1",
    ),
    (
        "a1e37752c9fdc1273be53f68c5f74be7c8905728e8de75800b94262f9497c86e",
        "03bb7947065dde12ba991ea045132581d0954f042c84e06d8c00066e23c1a800",
        "4d14f36e81b8452128da64fe6f1eae873baae2f444b02c950b90e43553f2178b",
    ),
]
KEY_1_2 = "c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"
PAYLOAD_A = (
    "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABee0G5VSK0/9YypIObAtDKfYEAjD35uVkHyB0F4DwrcNa"
    "CXlCWZKaArsGrY6M9wnuTMxWfp1RTN9Xga8no+kF5Vsb"
)


@pytest.mark.parametrize(("sec", "pub", "key"), CONVERSATION_KEYS)
def test_conversation_keys(sec: str, pub: str, key: str) -> None:
    assert conversation_key(bytes.fromhex(sec), bytes.fromhex(pub)).hex() == key


def test_encrypt_decrypt_vector() -> None:
    one, two = (1).to_bytes(32, "big"), (2).to_bytes(32, "big")
    key = conversation_key(one, Point.from_secret(two).xonly())
    assert key.hex() == KEY_1_2
    assert conversation_key(two, Point.from_secret(one).xonly()) == key
    nonce = (1).to_bytes(32, "big")
    assert encrypt("a", key, nonce) == PAYLOAD_A
    assert decrypt(PAYLOAD_A, key) == "a"


def test_padding_sizes() -> None:
    sizes = {1: 32, 32: 32, 33: 64, 37: 64, 64: 64, 65: 96, 100: 128, 257: 320, 1000: 1024,
             65535: 65536}  # fmt: skip
    assert {n: padded_length(n) for n in sizes} == sizes


def test_self_encryption_and_refusals() -> None:
    secret = bytes.fromhex(CONVERSATION_KEYS[0][0])
    payload = encrypt_to_self(secret, "ab" * 32)
    assert decrypt_from_self(secret, payload) == "ab" * 32
    assert encrypt_to_self(secret, "x") != encrypt_to_self(secret, "x")  # fresh nonces
    other = bytes.fromhex(CONVERSATION_KEYS[1][0])
    with pytest.raises(Nip44Error, match="authenticate"):
        decrypt_from_self(other, payload)
    raw = bytearray(base64.b64decode(payload))
    raw[40] ^= 1
    with pytest.raises(Nip44Error, match="authenticate"):
        decrypt_from_self(secret, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(Nip44Error, match="version"):
        decrypt("#" + payload[1:], bytes(32))
    for bad in ("", "x" * 100, "!" * 200):
        with pytest.raises(Nip44Error):
            decrypt(bad, bytes(32))
    with pytest.raises(Nip44Error, match="plaintext"):
        encrypt("", bytes(32))
