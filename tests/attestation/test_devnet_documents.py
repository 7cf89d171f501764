"""Documents made by the devnet issuer under a test root: accepted, and refused check by check."""

from __future__ import annotations

import datetime
import os
from typing import Any

import cbor2
import pytest

from coordinator_core.nitro import AWS_NITRO_ROOT_G1, PcrPolicy
from coordinator_core.nitro.cose import sig_structure, sign_es384
from devnet.signer.attestation import (
    DEVNET_PCR0,
    DEVNET_PCRS,
    AttestationIssuer,
    _intermediate,
    nitro_payload,
    sign_document,
)

from .conftest import DevnetEnclave, enclave_key, now_ms


def _fields(enclave: DevnetEnclave, **changes: Any) -> tuple[dict[str, Any], Any]:
    """Payload fields of a valid document and the leaf key that signs them."""
    stamp = now_ms()
    leaf = enclave.issuer.leaf("test", valid_from_ms=stamp, valid_to_ms=stamp)
    fields = nitro_payload(
        module_id="i-test-enc1",
        timestamp_ms=stamp,
        pcrs=DEVNET_PCRS,
        certificate=leaf.der,
        cabundle=enclave.issuer.cabundle,
        public_key=enclave.key,
        user_data=None,
        nonce=enclave.challenge,
    )
    fields.update(changes)
    return fields, leaf.key


def _signed(enclave: DevnetEnclave, **changes: Any) -> bytes:
    fields, key = _fields(enclave, **changes)
    return sign_document(fields, key)


def _cose(protected: bytes, unprotected: dict[Any, Any], payload: bytes, key: Any) -> bytes:
    signature = sign_es384(key, sig_structure(protected, payload))
    return cbor2.dumps([protected, unprotected, payload, signature])


# -- accepted ------------------------------------------------------------------------------


def test_fresh_document_verifies(enclave: DevnetEnclave) -> None:
    result = enclave.verify(enclave.document(user_data=b"session"))
    assert result.public_key == enclave.key
    assert result.nonce == enclave.challenge
    assert result.user_data == b"session"
    assert dict(result.pcrs) == dict(DEVNET_PCRS)
    assert result.module_id == "i-0000000000devnet-enc0000000000000000"


def test_tagged_hex_and_extra_pins(enclave: DevnetEnclave) -> None:
    assert enclave.document()[0] == 0x84  # untagged, like the Nitro Secure Module's
    fields, key = _fields(enclave)
    assert enclave.verify(sign_document(fields, key, tagged=True)).public_key == enclave.key
    assert enclave.verify(enclave.document().hex()).public_key == enclave.key
    pins = PcrPolicy({0: DEVNET_PCR0, 8: DEVNET_PCRS[8], 2: DEVNET_PCRS[2]})
    assert enclave.verify(enclave.document(), policy=pins).module_id


def test_timestamp_window_edges(enclave: DevnetEnclave) -> None:
    stamp = now_ms()
    document = enclave.document(timestamp_ms=stamp)
    assert enclave.verify(document, now_ms=stamp + 300_000).timestamp_ms == stamp
    assert enclave.verify(document, now_ms=stamp - 30_000).timestamp_ms == stamp


def test_unknown_payload_fields_are_ignored(enclave: DevnetEnclave) -> None:
    assert enclave.verify(_signed(enclave, future_field=[1, 2])).public_key == enclave.key


# -- refused, one check at a time ----------------------------------------------------------


def test_wrong_nonce(enclave: DevnetEnclave) -> None:
    enclave.refused(enclave.document(nonce=os.urandom(32)), "nonce")
    enclave.refused(enclave.document(nonce=None), "nonce")
    enclave.refused(enclave.document(), "nonce", challenge=None)


def test_old_timestamp(enclave: DevnetEnclave) -> None:
    stamp = now_ms()
    error = enclave.refused(
        enclave.document(timestamp_ms=stamp - 301_000), "timestamp", now_ms=stamp
    )
    assert "old" in error.message


def test_future_timestamp(enclave: DevnetEnclave) -> None:
    stamp = now_ms()
    error = enclave.refused(
        enclave.document(timestamp_ms=stamp + 31_000), "timestamp", now_ms=stamp
    )
    assert "ahead" in error.message


@pytest.mark.parametrize("index", [0, 1, 2])
def test_zero_debug_pcr(enclave: DevnetEnclave, index: int) -> None:
    pcrs = dict(DEVNET_PCRS)
    pcrs[index] = bytes(48)
    policy = PcrPolicy({8: DEVNET_PCRS[8]})  # so a zero PCR0 is not caught by the pin
    error = enclave.refused(enclave.document(pcrs=pcrs), "debug", policy=policy)
    assert f"PCR{index}" in error.message


def test_missing_debug_pcr(enclave: DevnetEnclave) -> None:
    pcrs = {index: value for index, value in DEVNET_PCRS.items() if index != 2}
    enclave.refused(enclave.document(pcrs=pcrs), "debug")


def test_all_zero_document_is_debug(enclave: DevnetEnclave) -> None:
    zero = {index: bytes(48) for index in range(16)}
    enclave.refused(enclave.document(pcrs=zero), "debug", policy=PcrPolicy({8: b"\x01" * 48}))


def test_wrong_public_key(enclave: DevnetEnclave) -> None:
    enclave.refused(enclave.document(public_key=enclave_key()), "public-key")
    enclave.refused(enclave.document(public_key=None), "public-key")
    enclave.refused(enclave.document(public_key=b"\x02" + bytes(32)), "public-key")
    enclave.refused(enclave.document(), "public-key", expected_public_key=enclave_key())


def test_missing_pin_policy(enclave: DevnetEnclave) -> None:
    enclave.refused(enclave.document(), "policy", policy=None)


def test_pin_that_differs(enclave: DevnetEnclave) -> None:
    enclave.refused(enclave.document(), "pcr", policy=PcrPolicy({0: b"\x01" * 48}))
    pcrs = dict(DEVNET_PCRS)
    del pcrs[8]
    enclave.refused(enclave.document(pcrs=pcrs), "pcr", policy=PcrPolicy({8: DEVNET_PCRS[8]}))


def test_another_root(enclave: DevnetEnclave) -> None:
    enclave.refused(enclave.document(), "chain", trust_root=AWS_NITRO_ROOT_G1)
    enclave.refused(enclave.document(), "chain", trust_root=AttestationIssuer.create().trust_root)


def test_leaf_not_signed_by_the_intermediate(enclave: DevnetEnclave) -> None:
    impostor = AttestationIssuer.create()  # same names, other keys
    stamp = now_ms()
    leaf = impostor.leaf("test", valid_from_ms=stamp, valid_to_ms=stamp)
    fields, _ = _fields(enclave, certificate=leaf.der)
    error = enclave.refused(sign_document(fields, leaf.key), "chain")
    assert "signing certificate signature does not verify" in error.message


def test_intermediate_not_signed_by_the_root(enclave: DevnetEnclave) -> None:
    impostor = AttestationIssuer(enclave.issuer.root, AttestationIssuer.create().intermediate)
    document = impostor.issue(public_key=enclave.key, nonce=enclave.challenge)
    error = enclave.refused(document, "chain")
    assert "CA bundle certificate 1 signature does not verify" in error.message


def test_cabundle_must_start_with_the_trust_root(enclave: DevnetEnclave) -> None:
    bundle = enclave.issuer.cabundle
    enclave.refused(_signed(enclave, cabundle=bundle[1:]), "chain")
    enclave.refused(_signed(enclave, cabundle=[bundle[1], bundle[0]]), "chain")


def test_a_leaf_as_intermediate_is_not_a_ca(enclave: DevnetEnclave) -> None:
    stamp = now_ms()
    not_a_ca = enclave.issuer.leaf("ca", valid_from_ms=stamp, valid_to_ms=stamp)
    impostor = AttestationIssuer(enclave.issuer.root, not_a_ca)
    document = impostor.issue(public_key=enclave.key, nonce=enclave.challenge)
    assert "is not a CA certificate" in enclave.refused(document, "chain").message


def test_path_length_constraint(enclave: DevnetEnclave) -> None:
    now = datetime.datetime.now(datetime.UTC)
    below = _intermediate(enclave.issuer.intermediate, now)  # under a path length 0 CA
    stamp = now_ms()
    leaf = AttestationIssuer(enclave.issuer.intermediate, below).leaf(
        "deep", valid_from_ms=stamp, valid_to_ms=stamp
    )
    bundle = [*enclave.issuer.cabundle, below.der]
    fields, _ = _fields(enclave, certificate=leaf.der, cabundle=bundle)
    error = enclave.refused(sign_document(fields, leaf.key), "chain")
    assert "allows 0 CA certificates below it, has 1" in error.message


def test_expired_intermediate(enclave: DevnetEnclave) -> None:
    old = AttestationIssuer.create(
        now=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    )
    document = old.issue(public_key=enclave.key, nonce=enclave.challenge)
    assert "expired" in enclave.refused(document, "chain", trust_root=old.trust_root).message


def test_signature_under_another_key(enclave: DevnetEnclave) -> None:
    fields, _ = _fields(enclave)
    stamp = now_ms()
    other = enclave.issuer.leaf("other", valid_from_ms=stamp, valid_to_ms=stamp)
    enclave.refused(sign_document(fields, other.key), "signature")


@pytest.mark.parametrize(
    ("protected", "unprotected", "reason"),
    [
        (cbor2.dumps({1: -7}), {}, "ES384"),  # ES256
        (cbor2.dumps({1: "ES384"}), {}, "ES384"),
        (b"", {}, "ES384"),  # empty protected header: no alg
        (cbor2.dumps({1: -35, 2: [1]}), {}, "crit"),
        (cbor2.dumps({1: -35}), {2: [1]}, "crit"),
        (cbor2.dumps({1: -35}), {1: -35}, "unprotected"),
        (cbor2.dumps([1, -35]), {}, "not a map"),
        (cbor2.dumps({1: -35, 1.5: 0}), {}, "malformed"),
    ],
)
def test_cose_headers(
    enclave: DevnetEnclave, protected: bytes, unprotected: dict[Any, Any], reason: str
) -> None:
    fields, key = _fields(enclave)
    document = _cose(protected, unprotected, cbor2.dumps(fields), key)
    assert reason in enclave.refused(document, "cose-header").message


def test_cose_structure(enclave: DevnetEnclave) -> None:
    fields, key = _fields(enclave)
    payload = cbor2.dumps(fields)
    protected = cbor2.dumps({1: -35})
    signature = sign_es384(key, sig_structure(protected, payload))
    for message in (
        [protected, {}, payload],
        [protected, {}, None, signature],  # detached payload
        [protected, {}, payload, signature[:64]],
        [protected, {}, payload, signature + b"\x00"],
        [protected, [], payload, signature],
        {"protected": protected},
    ):
        enclave.refused(cbor2.dumps(message), "cose")
    enclave.refused(b"\xd8\x12" + cbor2.dumps([protected, {}, payload, signature]), "cose")
    enclave.refused(cbor2.dumps([protected, {}, payload, signature]) + b"\x00", "cose")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"module_id": ""}, "module_id"),
        ({"module_id": None}, "module_id"),
        ({"digest": "SHA256"}, "digest"),
        ({"timestamp": -1}, "timestamp"),
        ({"timestamp": "1757440781958"}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"pcrs": {}}, "pcrs"),
        ({"pcrs": [b"\x01" * 48]}, "pcrs"),
        ({"pcrs": {**DEVNET_PCRS, 32: b"\x01" * 48}}, "0..31"),
        ({"pcrs": {**DEVNET_PCRS, "3": b"\x01" * 48}}, "0..31"),
        ({"pcrs": {**DEVNET_PCRS, 3: b"\x01" * 32}}, "PCR3"),
        ({"certificate": b""}, "certificate"),
        ({"certificate": b"\x01" * 1025}, "certificate"),
        ({"cabundle": []}, "cabundle"),
        ({"cabundle": [b"\x01"] * 11}, "cabundle"),
        ({"cabundle": [b"\x01" * 1025]}, "cabundle"),
        ({"cabundle": b"\x01"}, "cabundle"),
        ({"public_key": b""}, "public_key"),
        ({"public_key": "02ab"}, "public_key"),
        ({"nonce": b"\x01" * 1025}, "nonce"),
        ({"user_data": b"\x01" * 1025}, "user_data"),
    ],
)
def test_payload_shape(enclave: DevnetEnclave, changes: dict[str, Any], reason: str) -> None:
    assert reason in enclave.refused(_signed(enclave, **changes), "payload").message


def test_payload_must_be_a_map_with_text_keys(enclave: DevnetEnclave) -> None:
    fields, key = _fields(enclave)
    protected = cbor2.dumps({1: -35})
    for payload in (cbor2.dumps([fields]), cbor2.dumps({**fields, 7: 1}), b"\xff"):
        enclave.refused(_cose(protected, {}, payload, key), "payload")


def test_payload_outside_the_admitted_cbor_subset(enclave: DevnetEnclave) -> None:
    fields, key = _fields(enclave)
    protected = cbor2.dumps({1: -35})
    entries = b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in fields.items())
    one_more = bytes([0xA0 | (len(fields) + 1)]) + entries
    cases = {
        "duplicate key": one_more + cbor2.dumps("digest") + cbor2.dumps("SHA384"),
        "indefinite string": one_more + cbor2.dumps("x") + b"\x5f\x41\x00\xff",
        "float": cbor2.dumps({**fields, "x": 1.5}),
        "tag": cbor2.dumps({**fields, "x": cbor2.CBORTag(1, 0)}),
        "long head": one_more + b"\x78\x01x" + b"\x00",  # a 1-byte text with a 2-byte head
        "trailing byte": cbor2.dumps(fields) + b"\x00",
    }
    for name, data in cases.items():
        error = enclave.refused(_cose(protected, {}, data, key), "payload")
        assert "well-formed" in error.message, name
