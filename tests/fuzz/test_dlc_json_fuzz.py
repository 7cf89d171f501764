"""The DLC library's JSON codecs (contract parameters, signature sets, signature maps) against
their formats: valid values round-trip; mutated documents are refused with a
:class:`ContractError` (decode or limit) and nothing else, or decode to a value that
re-encodes to itself."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.dlc.conftest import make_params, make_party
from tests.fuzz.budget import examples
from tests.fuzz.mutations import mutated_json, mutated_text
from ticketdlc.contract import EXPIRY, ContractError, ContractLayout, Outcome, SigMap, WinCondition
from ticketdlc.contract.jsoncodec import (
    decode_pubnonce,
    dumps_compact,
    loads,
    params_from_json,
    params_to_json,
    sigmap_from_json,
    sigmap_to_json,
)
from ticketdlc.contract.signatures import ContractSignatures
from ticketdlc.crypto.secp import Point

PLAYERS = 3
PARAMS = make_params(
    make_party(PLAYERS),
    {Outcome.attestation(0): {0: 1}, Outcome.attestation(1): {1: 2, 2: 1}, EXPIRY: {0: 1, 1: 1}},
    [Point.from_secret(i + 1) for i in range(2)],
    expiry=1_900_000_000,
    fee_rate=1000,
    funding_value=300_000,
    delta=144,
    layout=ContractLayout.OUTCOME_BOUND,
)
PARAMS_JSON = params_to_json(PARAMS)

outcomes = st.one_of(st.just(EXPIRY), st.integers(0, 50).map(Outcome.attestation))
win_conditions = st.builds(WinCondition, outcomes, st.integers(0, 20))
signature_sets = st.builds(
    ContractSignatures,
    st.one_of(st.none(), st.binary(min_size=64, max_size=64)),
    st.dictionaries(st.integers(0, 50), st.binary(min_size=65, max_size=65), max_size=5),
    st.dictionaries(win_conditions, st.binary(min_size=64, max_size=64), max_size=5),
)
SIGNATURES_JSON = ContractSignatures(
    b"\x01" * 64, {0: b"\x02" * 65, 3: b"\x03" * 65}, {WinCondition(EXPIRY, 1): b"\x04" * 64}
).to_json()
PUBNONCE = (
    bytes.fromhex("02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798") * 2
)
SIGMAP_JSON = sigmap_to_json(
    SigMap({Outcome.attestation(0): PUBNONCE, EXPIRY: PUBNONCE},
           {WinCondition(Outcome.attestation(0), 1): PUBNONCE}),
    bytes.hex,
)  # fmt: skip


def decoded_or_refused(decode: Any, document: Any) -> Any:
    """``decode(document)``, or None when it raised the library's own error."""
    try:
        return decode(document)
    except ContractError:
        return None


@settings(max_examples=examples(200), deadline=None)
@given(document=mutated_json(PARAMS_JSON))
def test_mutated_contract_parameters_are_refused(document: Any) -> None:
    params = decoded_or_refused(params_from_json, document)
    if params is not None:
        assert params_from_json(params_to_json(params)) == params


@settings(max_examples=examples(100), deadline=None)
@given(text=mutated_text(dumps_compact(PARAMS_JSON), '0123456789abcdef{}[]",:-.e '))
def test_mutated_contract_parameter_text_is_refused(text: str) -> None:
    params = decoded_or_refused(lambda t: params_from_json(loads(t)), text)
    if params is not None:
        assert params_from_json(loads(dumps_compact(params_to_json(params)))) == params


@settings(max_examples=examples(100), deadline=None)
@given(signatures=signature_sets)
def test_signature_sets_round_trip(signatures: ContractSignatures) -> None:
    text = json.dumps(signatures.to_json())
    assert ContractSignatures.from_json(loads(text)) == signatures


@settings(max_examples=examples(150), deadline=None)
@given(document=mutated_json(SIGNATURES_JSON))
def test_mutated_signature_sets_are_refused(document: Any) -> None:
    signatures = decoded_or_refused(ContractSignatures.from_json, document)
    if signatures is not None:
        assert ContractSignatures.from_json(signatures.to_json()) == signatures


@settings(max_examples=examples(100), deadline=None)
@given(document=mutated_json(SIGMAP_JSON))
def test_mutated_signature_maps_are_refused(document: Any) -> None:
    sigmap = decoded_or_refused(lambda d: sigmap_from_json(d, decode_pubnonce, 10), document)
    if sigmap is not None:
        assert sigmap_from_json(sigmap_to_json(sigmap, bytes.hex), decode_pubnonce, 10) == sigmap
