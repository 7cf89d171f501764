"""Mutated and arbitrary documents are refused with :class:`AttestationError`, never another
exception; a mutation the verifier accepts (e.g. adding or removing the COSE tag) attests
exactly what the original attests."""

from __future__ import annotations

import os
from typing import Any

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator_core.nitro import (
    AWS_NITRO_ROOT_G1,
    AttestationError,
    PcrPolicy,
    VerifiedAttestation,
    verify_attestation,
)
from devnet.signer.attestation import DEVNET_PCR0, AttestationIssuer, sign_document

from .conftest import enclave_key, now_ms

_ISSUER = AttestationIssuer.create()
_KEY = enclave_key()
_CHALLENGE = os.urandom(32)
_STAMP = now_ms()
_DEVNET_DOCUMENT = _ISSUER.issue(public_key=_KEY, nonce=_CHALLENGE, timestamp_ms=_STAMP)
_DEVNET_ARGS: dict[str, Any] = {
    "challenge": _CHALLENGE,
    "expected_public_key": _KEY,
    "policy": PcrPolicy({0: DEVNET_PCR0}),
    "trust_root": _ISSUER.trust_root,
    "now_ms": _STAMP,
}
_FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _outcome(document: bytes | str, arguments: dict[str, Any]) -> VerifiedAttestation | None:
    try:
        return verify_attestation(document, **arguments)
    except AttestationError:
        return None


@st.composite
def _mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "replace"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "truncate":
            del data[at:]
        else:
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
    return bytes(data)


@_FUZZ
@given(document=_mutated(_DEVNET_DOCUMENT))
def test_mutated_devnet_documents(document: bytes) -> None:
    original = verify_attestation(_DEVNET_DOCUMENT, **_DEVNET_ARGS)
    outcome = _outcome(document, _DEVNET_ARGS)
    assert outcome is None or outcome == original


@_FUZZ
@given(data=st.data())
def test_mutated_real_documents(data: st.DataObject, real_document: Any) -> None:
    arguments: dict[str, Any] = {
        "challenge": None,
        "expected_public_key": real_document.public_key,
        "policy": real_document.policy,
        "trust_root": AWS_NITRO_ROOT_G1,
        "now_ms": real_document.valid_at_ms,
    }
    original = verify_attestation(real_document.document, **arguments)
    outcome = _outcome(data.draw(_mutated(real_document.document)), arguments)
    assert outcome is None or outcome == original


@_FUZZ
@given(document=st.one_of(st.binary(max_size=512), st.text(max_size=512)))
def test_arbitrary_input(document: bytes | str) -> None:
    assert _outcome(document, _DEVNET_ARGS) is None


_CBOR_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.binary(max_size=64)
    | st.text(max_size=16),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@_FUZZ
@given(
    name=st.sampled_from(
        [
            "module_id",
            "digest",
            "timestamp",
            "pcrs",
            "certificate",
            "cabundle",
            "public_key",
            "nonce",
        ]
    ),
    value=_CBOR_VALUES,
)
def test_signed_payload_with_an_arbitrary_field(name: str, value: Any) -> None:
    """A correctly signed document whose field holds any CBOR value: accepted or refused
    with :class:`AttestationError`, nothing else."""
    leaf = _ISSUER.leaf("fuzz", valid_from_ms=_STAMP, valid_to_ms=_STAMP)
    fields = cbor2.loads(cbor2.loads(_DEVNET_DOCUMENT)[2])
    fields["certificate"] = leaf.der
    fields[name] = value
    outcome = _outcome(sign_document(fields, leaf.key), _DEVNET_ARGS)
    assert outcome is None or outcome.public_key == _KEY
