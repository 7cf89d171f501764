"""dlctix JSON: byte-exact round trips and strict decoding of untrusted input."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.dlc.conftest import make_params, make_party
from ticketdlc.contract import (
    EXPIRY,
    ContractDecodeError,
    ContractLimitError,
    ContractLimits,
    Outcome,
    SigMap,
    WinCondition,
)
from ticketdlc.contract.jsoncodec import (
    decode_pubnonce,
    dumps_compact,
    dumps_pretty,
    loads,
    params_from_json,
    params_to_json,
    sigmap_from_json,
    sigmap_to_json,
)
from ticketdlc.contract.types import ContractLayout
from ticketdlc.crypto.secp import Point

# dlctix serialization::contract_parameters_serialization (dlctix spec §10): serde_json pretty.
GOLDEN_PRETTY = """{
  "market_maker": {
    "pubkey": "03a0434d9e47f3c86235477c7b1ae6ae5d3442d49b1943c2b752a68e2a47e247c7"
  },
  "players": [
    {
      "pubkey": "03a0434d9e47f3c86235477c7b1ae6ae5d3442d49b1943c2b752a68e2a47e247c7",
      "ticket_hash": "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
      "payout_hash": "1414141414141414141414141414141414141414141414141414141414141414"
    },
    {
      "pubkey": "03774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb",
      "ticket_hash": "1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e",
      "payout_hash": "2828282828282828282828282828282828282828282828282828282828282828"
    }
  ],
  "event": {
    "locking_points": [
      "036b382e40647af612900fe6ad0aa0003790fef503ffa910c06d04811863d0791f",
      "038f7cd041cdf74616b9ce4837dbbc8a316e7f0150ab96419bd9a24db9b36e261d"
    ],
    "expiry": 4294967295
  },
  "outcome_payouts": {
    "att0": {
      "0": 1
    },
    "att1": {
      "1": 1
    },
    "att2": {
      "0": 1,
      "1": 1
    },
    "exp": {
      "0": 1,
      "1": 1
    }
  },
  "fee_rate": 25000,
  "funding_value": 300000,
  "relative_locktime_block_delta": 25
}"""

GOLDEN_COMPACT = (
    '{"market_maker":{"pubkey":"03a0434d9e47f3c86235477c7b1ae6ae5d3442d49b1943c2b752a68e2a47e247c7"},'
    '"players":[{"pubkey":"03a0434d9e47f3c86235477c7b1ae6ae5d3442d49b1943c2b752a68e2a47e247c7",'
    '"ticket_hash":"0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",'
    '"payout_hash":"1414141414141414141414141414141414141414141414141414141414141414"},'
    '{"pubkey":"03774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb",'
    '"ticket_hash":"1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e",'
    '"payout_hash":"2828282828282828282828282828282828282828282828282828282828282828"}],'
    '"event":{"locking_points":["036b382e40647af612900fe6ad0aa0003790fef503ffa910c06d04811863d0791f",'
    '"038f7cd041cdf74616b9ce4837dbbc8a316e7f0150ab96419bd9a24db9b36e261d"],"expiry":4294967295},'
    '"outcome_payouts":{"att0":{"0":1},"att1":{"1":1},"att2":{"0":1,"1":1},"exp":{"0":1,"1":1}},'
    '"fee_rate":25000,"funding_value":300000,"relative_locktime_block_delta":25}'
)


def test_golden_parameters_round_trip_byte_for_byte() -> None:
    params = params_from_json(loads(GOLDEN_PRETTY))
    assert dumps_pretty(params_to_json(params)) == GOLDEN_PRETTY
    assert dumps_compact(params_to_json(params)) == GOLDEN_COMPACT
    assert params_from_json(loads(GOLDEN_COMPACT)) == params
    assert params.fee_rate == 25_000
    assert params.event.expiry == 2**32 - 1
    assert params.layout is ContractLayout.LEGACY


def test_compat_parameters_round_trip(compat: dict[str, Any]) -> None:
    params = params_from_json(compat["params"])
    assert dumps_pretty(params_to_json(params)) == json.dumps(compat["params"], indent=2)


def test_btreemap_order_is_numeric_with_expiry_last() -> None:
    obj = json.loads(GOLDEN_COMPACT)
    obj["event"]["locking_points"] = obj["event"]["locking_points"] * 6
    obj["outcome_payouts"] = {"exp": {"1": 1}, "att10": {"0": 1}, "att2": {"1": 2, "0": 1}}
    encoded = params_to_json(params_from_json(obj))
    assert list(encoded["outcome_payouts"]) == ["att2", "att10", "exp"]
    assert list(encoded["outcome_payouts"]["att2"]) == ["0", "1"]


def test_outcome_bound_flag_is_serialized_last_and_only_when_set() -> None:
    params = params_from_json(loads(GOLDEN_COMPACT)).with_layout(ContractLayout.OUTCOME_BOUND)
    text = dumps_compact(params_to_json(params))
    assert text.endswith('"relative_locktime_block_delta":25,"outcome_bound_splits":true}')
    assert params_from_json(loads(text)) == params


def test_outcome_and_win_condition_keys() -> None:
    assert str(Outcome.attestation(12)) == "att12"
    assert str(EXPIRY) == "exp"
    assert Outcome.parse("att0") == Outcome.attestation(0)
    assert WinCondition.parse("exp:p3") == WinCondition(EXPIRY, 3)
    assert str(WinCondition(Outcome.attestation(4), 0)) == "att4:p0"
    assert sorted([EXPIRY, Outcome.attestation(10), Outcome.attestation(2)]) == [
        Outcome.attestation(2),
        Outcome.attestation(10),
        EXPIRY,
    ]
    for bad in ("att", "att01", "att-1", "ATT1", "exp0", "att1 "):
        with pytest.raises(ContractDecodeError):
            Outcome.parse(bad)
    for bad in ("att1", "att1:1", "att1:p01", "exp:p", "att1:px"):
        with pytest.raises(ContractDecodeError):
            WinCondition.parse(bad)


def _golden() -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(GOLDEN_COMPACT)
    return obj


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.pop("fee_rate"), "missing field 'fee_rate'"),
        (lambda o: o.update(anchors={"value": 240}), "unknown field 'anchors'"),
        (lambda o: o.update(anchor={"value": -1}), "anchor.value"),
        (lambda o: o.update(anchor={"value": 2**64}), "anchor.value"),
        (lambda o: o.update(anchor={"value": 240, "script": "51"}), "unknown field 'script'"),
        (lambda o: o.update(anchor=240), "anchor: expected an object"),
        (lambda o: o.update(fee_rate=1.5), "fee_rate"),
        (lambda o: o.update(fee_rate=True), "fee_rate"),
        (lambda o: o.update(fee_rate=2**64), "fee_rate"),
        (lambda o: o.update(relative_locktime_block_delta=70000), "relative_locktime"),
        (lambda o: o["players"][0].update(pubkey="02" + "00" * 32), "not a valid point"),
        (lambda o: o["players"][0].update(ticket_hash="zz" * 32), "not hex"),
        (lambda o: o["event"].update(expiry=2**32), "event.expiry"),
        (lambda o: o["outcome_payouts"].update(att01={"0": 1}), "invalid outcome"),
        (lambda o: o["outcome_payouts"]["att0"].update({"00": 1}), "invalid index key"),
        (lambda o: o.update(outcome_bound_splits="yes"), "outcome_bound_splits"),
    ],
)
def test_malformed_parameters_are_refused(mutate: Any, message: str) -> None:
    obj = _golden()
    mutate(obj)
    with pytest.raises(ContractDecodeError, match=message):
        params_from_json(obj)


def test_infinity_locking_point_decodes_and_round_trips() -> None:
    obj = _golden()
    obj["event"]["locking_points"][1] = "00" * 33
    params = params_from_json(obj)
    assert params.event.locking_points[1] is None
    assert params_to_json(params)["event"]["locking_points"][1] == "00" * 33


def test_duplicate_json_keys_are_refused() -> None:
    text = GOLDEN_COMPACT.replace('"fee_rate":25000', '"fee_rate":25000,"fee_rate":1')
    with pytest.raises(ContractDecodeError, match="duplicate"):
        loads(text)


def test_limits_are_checked_before_elements_are_parsed() -> None:
    obj = _golden()
    # Invalid points beyond the limit: the size check must fire before any point is parsed.
    obj["event"]["locking_points"] = ["zz"] * 50
    with pytest.raises(ContractLimitError, match="locking_points"):
        params_from_json(obj, ContractLimits(max_locking_points=10))
    obj = _golden()
    obj["players"] = [{}] * 200
    with pytest.raises(ContractLimitError, match="players"):
        params_from_json(obj, ContractLimits(max_players=100))
    with pytest.raises(ContractLimitError):
        loads("[" + "1," * 100 + "1]", max_bytes=100)


def test_partial_signature_limit() -> None:
    params = params_from_json(_golden())
    with pytest.raises(ContractLimitError, match="partial signatures"):
        params_from_json(_golden(), ContractLimits(max_partial_signatures=10))
    assert params is not None


def test_sigmap_round_trip_and_value_checks() -> None:
    nonce = "02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    sigmap = SigMap(
        {Outcome.attestation(0): bytes.fromhex(nonce * 2), EXPIRY: bytes.fromhex(nonce * 2)},
        {WinCondition(Outcome.attestation(0), 1): bytes.fromhex(nonce * 2)},
    )
    obj = sigmap_to_json(sigmap, bytes.hex)
    assert list(obj["by_outcome"]) == ["att0", "exp"]
    assert list(obj["by_win_condition"]) == ["att0:p1"]
    assert sigmap_from_json(copy.deepcopy(obj), decode_pubnonce, 10) == sigmap
    obj["by_outcome"]["att0"] = "03" + "00" * 65
    with pytest.raises(ContractDecodeError, match="public nonce"):
        sigmap_from_json(obj, decode_pubnonce, 10)
    with pytest.raises(ContractLimitError):
        sigmap_from_json(sigmap_to_json(sigmap, bytes.hex), decode_pubnonce, 1)


@settings(max_examples=60, deadline=None)
@given(
    players=st.integers(min_value=1, max_value=5),
    points=st.integers(min_value=1, max_value=12),
    data=st.data(),
)
def test_random_parameters_round_trip(players: int, points: int, data: st.DataObject) -> None:
    indices = st.integers(min_value=0, max_value=players - 1)
    weights = st.dictionaries(indices, st.integers(min_value=1, max_value=2**64 - 1), min_size=1)
    keys = st.one_of(st.just(EXPIRY), st.integers(0, points - 1).map(Outcome.attestation))
    payouts = data.draw(st.dictionaries(keys, weights, max_size=8))
    expiry = data.draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2**32 - 1)))
    params = make_params(
        make_party(players),
        payouts,
        [Point.from_secret(i + 1) for i in range(points)],
        expiry=expiry,
        fee_rate=data.draw(st.integers(0, 2**64 - 1)),
        funding_value=data.draw(st.integers(0, 2**64 - 1)),
        delta=data.draw(st.integers(0, 0xFFFF)),
        layout=data.draw(st.sampled_from(list(ContractLayout))),
    )
    text = dumps_compact(params_to_json(params))
    again = params_from_json(loads(text))
    assert again == params
    assert dumps_compact(params_to_json(again)) == text
    for outcome in payouts:
        assert Outcome.parse(str(outcome)) == outcome
        for player in payouts[outcome]:
            win = WinCondition(outcome, player)
            assert WinCondition.parse(str(win)) == win
