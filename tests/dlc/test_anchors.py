"""Pay-to-anchor outputs, fees with anchors, the CPFP child, and the regression values of
dlctix-0.2 §9.2 (the base §12 fixture, funding outpoint 5a×32:1)."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from ticketdlc.bitcoin.anchor import (
    ANCHOR_INPUT_WEIGHT,
    ANCHOR_OUTPUT_WEIGHT,
    P2A_DUST_VALUE,
    P2A_SCRIPT_PUBKEY,
    anchor_output,
    find_anchor,
)
from ticketdlc.bitcoin.fees import P2TR_KEY_SPEND, minimal_non_dust
from ticketdlc.bitcoin.sighash import SIGHASH_DEFAULT, SighashCache
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from ticketdlc.contract import (
    DEFAULT_ANCHOR,
    EXPIRY,
    AnchorParams,
    ContractBuildError,
    ContractLayout,
    ContractParameters,
    ContractValidationError,
    CpfpFundingInput,
    Outcome,
    TicketedDLC,
    contract_cpfp_child,
    cpfp_child_template,
    presigned_tx_fee,
    validate,
)
from ticketdlc.contract.build import fee_for_weight
from ticketdlc.contract.cpfp import fee_for_vsize
from ticketdlc.contract.jsoncodec import dumps_compact, params_from_json, params_to_json

OUTPOINT = OutPoint(b"\x5a" * 32, 1)
A0, A1 = Outcome.attestation(0), Outcome.attestation(1)
RATE_20 = 5000  # 20 sat/vB in sat/kwu


def _digest(dlc: TicketedDLC) -> str:
    parts = [tx.txid() for tx in dlc.outcome_txs.values()]
    parts += [tx.txid() for tx in dlc.split_txs.values()]
    parts += list(dlc.outcome_sighashes.values())
    parts += list(dlc.split_sighashes.values())
    return hashlib.sha256(b"".join(parts)).hexdigest()


@pytest.fixture(scope="module")
def base(compat: dict[str, Any]) -> ContractParameters:
    return params_from_json(compat["params"])


@pytest.fixture(scope="module")
def anchored(base: ContractParameters) -> TicketedDLC:
    return TicketedDLC.new(base.with_anchor(DEFAULT_ANCHOR), OUTPOINT)


def _splits(dlc: TicketedDLC) -> dict[str, list[int]]:
    return {str(o): [out.value for out in tx.outputs] for o, tx in dlc.split_txs.items()}


# -- primitives --------------------------------------------------------------------------------


def test_p2a_constants_and_dust_limits() -> None:
    assert P2A_SCRIPT_PUBKEY.hex() == "51024e73"
    assert anchor_output(240).serialize().hex() == "f000000000000000" + "0451024e73"
    assert ANCHOR_OUTPUT_WEIGHT == 52
    assert ANCHOR_INPUT_WEIGHT.weight() == 4
    assert AnchorParams(240) == DEFAULT_ANCHOR and P2A_DUST_VALUE == 240
    scripts = {
        "p2a": P2A_SCRIPT_PUBKEY,
        "p2wpkh": bytes.fromhex("0014") + bytes(20),
        "p2tr": bytes.fromhex("5120") + bytes(32),
        "p2wsh": bytes.fromhex("0020") + bytes(32),
        "p2sh": bytes.fromhex("a914") + bytes(20) + b"\x87",
        "p2pkh": bytes.fromhex("76a914") + bytes(20) + bytes.fromhex("88ac"),
    }
    assert {k: minimal_non_dust(v) for k, v in scripts.items()} == {
        "p2a": 240,
        "p2wpkh": 294,
        "p2tr": 330,
        "p2wsh": 330,
        "p2sh": 540,
        "p2pkh": 546,
    }


def test_find_anchor_takes_the_last_p2a_output() -> None:
    tx = Transaction(
        2,
        [TxIn(OutPoint(b"\x01" * 32, 0))],
        [anchor_output(300), TxOut(1000, b"\x51"), anchor_output(240), TxOut(5, b"\x6a")],
    )
    found = find_anchor(tx)
    assert found is not None
    assert found[0] == OutPoint(tx.txid(), 2) and found[1].value == 240
    plain = Transaction(2, [TxIn(OutPoint(b"\x01" * 32, 0))], [TxOut(1000, b"\x51")])
    assert find_anchor(plain) is None


# -- parameters: JSON and validation -----------------------------------------------------------


def test_anchor_json_is_field_8_and_omitted_when_absent(base: ContractParameters) -> None:
    plain = dumps_compact(params_to_json(base))
    assert '"anchor"' not in plain
    text = dumps_compact(params_to_json(base.with_anchor(DEFAULT_ANCHOR)))
    assert text.endswith('"relative_locktime_block_delta":432,"anchor":{"value":240}}')
    both = base.with_anchor(DEFAULT_ANCHOR).with_layout(ContractLayout.OUTCOME_BOUND)
    both_text = dumps_compact(params_to_json(both))
    assert both_text.endswith(',"anchor":{"value":240},"outcome_bound_splits":true}')
    assert params_from_json(params_to_json(both)) == both
    # An explicit null decodes to "no anchor" and is dropped when encoded again.
    with_null = {**params_to_json(base), "anchor": None}
    assert params_from_json(with_null) == base
    assert dumps_compact(params_to_json(params_from_json(with_null))) == plain


def _rule(params: ContractParameters) -> str:
    with pytest.raises(ContractValidationError) as info:
        validate(params)
    return info.value.rule


def test_anchor_value_rule_is_rule_10(base: ContractParameters) -> None:
    assert _rule(base.with_anchor(AnchorParams(239))) == "InvalidAnchorValue"
    validate(base.with_anchor(AnchorParams(240)))
    validate(base.with_anchor(AnchorParams(10**15)))  # no upper bound at validation time
    # Rule 9 comes first; rule 11 (shared winners) comes after.
    broke = dataclasses.replace(base, funding_value=0, anchor=AnchorParams(1))
    assert _rule(broke) == "InvalidFundingValue"
    shared = dataclasses.replace(
        base, outcome_payouts={A0: {0: 7, 1: 3}, A1: {0: 3, 1: 7}}, anchor=AnchorParams(1)
    )
    assert _rule(shared) == "InvalidAnchorValue"
    assert _rule(shared.with_anchor(DEFAULT_ANCHOR)) == "UnboundSharedWinners"
    with pytest.raises(ContractBuildError, match="InsufficientFunds"):
        TicketedDLC.new(base.with_anchor(AnchorParams(10**15)), OUTPOINT)


def test_unbound_shared_winners_compares_maps_exactly(base: ContractParameters) -> None:
    proportional = dataclasses.replace(base, outcome_payouts={A0: {0: 1, 1: 1}, A1: {0: 2, 1: 2}})
    assert _rule(proportional) == "UnboundSharedWinners"
    equal = dataclasses.replace(base, outcome_payouts={A0: {0: 1, 1: 1}, A1: {0: 1, 1: 1}})
    validate(equal)
    # Expiry is not compared, and the bound layout has no such rule.
    with_expiry = dataclasses.replace(
        base, outcome_payouts={A0: {0: 1, 1: 1}, EXPIRY: {0: 2, 1: 1}}
    )
    validate(with_expiry)
    validate(proportional.with_layout(ContractLayout.OUTCOME_BOUND))
    TicketedDLC.rebuild(proportional, OUTPOINT)  # stored contracts still rebuild


# -- transactions and fees ---------------------------------------------------------------------


def test_every_presigned_transaction_ends_with_the_anchor(anchored: TicketedDLC) -> None:
    for tx in [*anchored.outcome_txs.values(), *anchored.split_txs.values()]:
        assert tx.outputs[-1] == anchor_output(240)
        found = find_anchor(tx)
        assert found is not None and found[0].vout == len(tx.outputs) - 1
    for outcome, split in anchored.split_txs.items():
        assert split.inputs[0].prevout == OutPoint(anchored.outcome_txs[outcome].txid(), 0)
    assert [len(tx.outputs) for tx in anchored.outcome_txs.values()] == [2, 2, 2]
    assert [len(tx.outputs) for tx in anchored.split_txs.values()] == [2, 3, 4]


def test_anchor_costs_its_value_and_52_weight_units(
    base: ContractParameters, anchored: TicketedDLC
) -> None:
    plain = TicketedDLC.new(base, OUTPOINT)
    assert plain.outcome_value - anchored.outcome_value == 240 + fee_for_weight(2500, 52)
    for value in (240, 1000, 5000):
        dlc = TicketedDLC.new(base.with_anchor(AnchorParams(value)), OUTPOINT)
        assert plain.outcome_value - dlc.outcome_value == value + 130


def test_regression_a_anchor_240_legacy(anchored: TicketedDLC) -> None:
    dlc = anchored
    assert _digest(dlc) == "cd9af59f15412c39d5d5a5f342c5f451639ef046657ec2f8db1c6c8bc0a662bf"
    assert dlc.outcome_value == 298_520
    outcome = dlc.outcome_txs[A0]
    assert presigned_tx_fee(dlc, outcome) == 1240
    assert outcome.txid_hex() == (
        "6a62ca5b2f82fa5e7008d47564b39c8259319e766450a3e44ff055f8ef3e25c2"
    )
    assert outcome.hex() == (
        "02000000015a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a0100000000"
        "feffffff02188e0400000000002251203fecc8c7960c4308d6e8c16d959c7d326b1413f7b60b732e92c5"
        "068b44c0cd17f0000000000000000451024e7300000000"
    )
    assert dlc.split_txs[A0].hex() == (
        "0200000001c2253eeff855f04fe4a35064769e3159829cb36475d408705efa822f5bca626a0000000000"
        "b001000002a98604000000000022512043d5dd372a22259eef3e63d7de50bf6330189cea9c94645599ee"
        "47f3ca93cef1f0000000000000000451024e7300000000"
    )
    assert _splits(dlc) == {
        "att0": [296_617, 240],
        "att1": [98_340, 197_767, 240],
        "exp": [98_532, 98_532, 98_532, 240],
    }
    # Fees from the predicted weights 665 / 869 / 1073 (the exp split leaves 1 sat of rounding).
    assert [presigned_tx_fee(dlc, tx) for tx in dlc.split_txs.values()] == [1663, 2173, 2684]
    assert {str(o): h.hex() for o, h in dlc.outcome_sighashes.items()} == {
        "att0": "a977dc17af22d2d799e73054cc55bb198d1b0bf03c51c3cc80b62689e48b95e6",
        "att1": "e4ed18518670c0d50d4eadfe4051cd237bced58b5d2b0bbcabd1eabf958984aa",
        "exp": "d1121841a3fa3cd2ae63c4f3aba826af52c903e6fbb70afa50085f64aad3998d",
    }
    assert {str(w): h.hex() for w, h in dlc.split_sighashes.items()} == {
        "att0:p0": "5c8128df24581d41ee5e1c56b0edb7258478a3d62416bfd0c52c22bd6bdec061",
        "att1:p1": "ab737d7cb4470310d4a52563ea35c8e42b2e9200b347f55cbcb77447ac3d42b3",
        "att1:p2": "214e1736f20959df3b0711f7b2aa420353900eb0c51a8e01a18b7364c14863c5",
        "exp:p0": "c721751434e84c98be9104fd04a8abb54569f36a3e0a008e3f480c0701a1106a",
        "exp:p1": "7e3fec0107e3c2178901e709e2899252a8645b41b3d3fd5b1ab491bdb08f3e4c",
        "exp:p2": "4e9247661a5aa6608d3c4f513e15a179e6c1327790e75cb1411f84eb15622d93",
    }


def test_regression_a_anchor_1000(base: ContractParameters) -> None:
    dlc = TicketedDLC.new(base.with_anchor(AnchorParams(1000)), OUTPOINT)
    assert _digest(dlc) == "f7e3a218c42d335fdcf42ff2ec202e27d012110ca545d99617b5da3ad2567dc8"
    assert dlc.outcome_value == 297_760
    assert dlc.split_txs[A0].outputs[0].value == 295_097


def test_regression_b_outcome_bound_without_anchor(base: ContractParameters) -> None:
    dlc = TicketedDLC.new(base.with_layout(ContractLayout.OUTCOME_BOUND), OUTPOINT)
    assert _digest(dlc) == "7134dfce7de07380417c5d50d1e81cd75e9c4d6d5abdfe89200e9cbfbc7084d6"
    assert dlc.outcome_value == 298_890
    leaves = {
        (o, p): leaf.hex()
        for o, info in dlc.outcome_infos.items()
        for p, leaf in info.split_leaves.items()
    }
    assert leaves[(A0, 0)] == (
        "0075a82072cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f0153637938820813632"
        "86a3f163a91f6b7b4ea3173a013659759e07cd6d10299b729e870d1555ac"
    )
    assert leaves[(A1, 1)] == (
        "5175a82075877bb41d393b5fb8455ce60ecd8dda001d06316496b14dfa7f895656eeca4a8820f16ba3"
        "5d798d1614894456716f5145539e71bc165af8bb63a56aad96371b580aac"
    )
    assert leaves[(EXPIRY, 0)] == (
        "4f75a82072cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f0153637938820ff9f8f"
        "0f8c83ce4a8075cf4d2194a82c917120ae75ddac525a8d606a9fc96671ac"
    )
    assert {str(o): info.tree.output_key.hex() for o, info in dlc.outcome_infos.items()} == {
        "att0": "495198653d9b00b22cd209726b35b9d75287c06b0c1ea8f4f96d69cf0b8bb157",
        "att1": "b5e781a40b244b2041db96017c12bf2fb147af87ef110e8718481045772b6574",
        "exp": "df26491f82e9427f8929b53c39eb51794fdaf26c1ee1705d44a586cacca23c6e",
    }
    assert {str(o): tx.txid_hex() for o, tx in dlc.outcome_txs.items()} == {
        "att0": "46eeced49ad1a59be017b993e842a7080777deb80255c277633a0e893908b625",
        "att1": "7786e0d83f03539aa9048d980be6bd4713daea86ffa0c11c2a0d3eab296a5acb",
        "exp": "ffdcb43eec0abe5ef2dc9252518911ca0eced9fd64579fb5737b51cd69bbf42c",
    }
    assert _splits(dlc) == {
        "att0": [297_352],
        "att1": [98_606, 198_236],
        "exp": [98_778, 98_778, 98_778],
    }
    assert {str(o): h.hex() for o, h in dlc.outcome_sighashes.items()} == {
        "att0": "cb797e5e402898489b89cd9a025671fabf5d45bcbe782d5734e0196522d12a32",
        "att1": "aad5dfad50f690d6f15c30034f695e1580d51fbc4ddc7c8ecf184198ac91de37",
        "exp": "f85afab879bea6b3727b7238b9a67b23d6fc771f91059e25bc2984e659cfadad",
    }


def test_regression_c_anchor_with_binding(base: ContractParameters) -> None:
    params = base.with_anchor(DEFAULT_ANCHOR).with_layout(ContractLayout.OUTCOME_BOUND)
    dlc = TicketedDLC.new(params, OUTPOINT)
    assert _digest(dlc) == "311169d5383729e3ee89320680aee33dc04602b72715039b4deafbceccf4b1e3"
    assert _splits(dlc) == {
        "att0": [296_612, 240],
        "att1": [98_337, 197_764, 240],
        "exp": [98_530, 98_530, 98_530, 240],
    }
    # Predicted weights 667 / 871 / 1075 at 2500 sat/kwu.
    assert [presigned_tx_fee(dlc, tx) for tx in dlc.split_txs.values()] == [1668, 2179, 2690]


def test_regression_d_shared_winners(base: ContractParameters) -> None:
    shared = dataclasses.replace(
        base, outcome_payouts={**base.outcome_payouts, A0: {0: 7, 1: 3}, A1: {0: 3, 1: 7}}
    )
    with pytest.raises(ContractValidationError, match="UnboundSharedWinners"):
        TicketedDLC.new(shared, OUTPOINT)
    legacy = TicketedDLC.rebuild(shared, OUTPOINT)
    assert _digest(legacy) == "6ec481599bef2c40f8c0c8d42a534c0a4c452c56330fe876a69f5db9de812c08"
    assert legacy.outcome_txs[A0] == legacy.outcome_txs[A1]
    assert legacy.outcome_txs[A0].txid_hex() == (
        "ac2596b19b3d3857e7ab9a210a5d9550665f63e914bb31e5637e5a4f1f4dd109"
    )
    assert _splits(legacy)["att0"] == [208_202, 88_646]
    assert _splits(legacy)["att1"] == [88_646, 208_202]
    assert legacy.split_txs[A0].inputs[0].prevout == legacy.split_txs[A1].inputs[0].prevout
    bound = TicketedDLC.new(shared.with_layout(ContractLayout.OUTCOME_BOUND), OUTPOINT)
    assert _digest(bound) == "4b64927846b21af4168fe2f2bb679e590cda67d7d2de25e764d95b41dd4e6a72"
    assert bound.outcome_txs[A0].txid_hex() == (
        "868e10b7fd6829d53529208fd51415e4de79bfb7359070c51fe792b6c2340429"
    )
    assert bound.outcome_txs[A1].txid_hex() == (
        "4cbd1234347c33778797b12e633e7a6bee468c9dd91d824f714fe295c51cef91"
    )
    assert _splits(bound)["att0"] == [208_199, 88_643]


# -- presigned_tx_fee and the CPFP child ---------------------------------------------------


def test_presigned_tx_fee_knows_only_the_contract_inputs(anchored: TicketedDLC) -> None:
    outcome = anchored.outcome_txs[A1]
    assert presigned_tx_fee(anchored, outcome) == 300_000 - sum(o.value for o in outcome.outputs)
    split = anchored.split_txs[A1]
    assert presigned_tx_fee(anchored, split) == 298_520 - sum(o.value for o in split.outputs)
    foreign_input = TxIn(OutPoint(outcome.txid(), 7), b"", split.inputs[0].sequence)
    foreign = Transaction(2, [foreign_input], split.outputs, 0)
    assert presigned_tx_fee(anchored, foreign) is None
    overspend = Transaction(2, outcome.inputs, [TxOut(300_001, SPK)], 0)
    assert presigned_tx_fee(anchored, overspend) is None
    two_inputs = Transaction(2, [*outcome.inputs, foreign_input], outcome.outputs, 0)
    assert presigned_tx_fee(anchored, two_inputs) is None


SPK = bytes.fromhex("5120d01115d548e7561b15c38f004d734633687cf4419620095bc5b0f47070afe85a")


def test_regression_e1_rust_unit_setup() -> None:
    parent = Transaction(
        2,
        [TxIn(OutPoint(bytes(32), 0xFFFF_FFFF), b"", 0xFFFF_FFFF)],
        [TxOut(10_000, b"\x51"), anchor_output(240)],
        0,
    )
    assert parent.hex() == (
        "02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff00"
        "ffffffff0210270000000000000151f0000000000000000451024e7300000000"
    )
    assert (parent.weight(), parent.vsize()) == (296, 74)
    assert parent.txid_hex() == "423969d8d7ccc2b9daa2f00bd67cbd995dbb9757a8228012dc161a8291c44e77"
    coin = CpfpFundingInput(OutPoint(b"\x07" * 32, 1), TxOut(50_000, SPK), P2TR_KEY_SPEND)
    child = cpfp_child_template(parent, 100, [coin], P2A_SCRIPT_PUBKEY, RATE_20)
    assert (child.fee, child.change.value, child.child_vsize) == (3840, 46_400, 123)
    assert child.tx.hex() == (
        "0200000002774ec491821a16dc128022a85797bb5d99bd7cd60bf0a2dab9c2ccd7d86939420100000000"
        "fdffffff07070707070707070707070707070707070707070707070707070707070707070100000000fd"
        "ffffff0140b50000000000000451024e7300000000"
    )
    # The child pays for the package: parent + child fees are the package rate's fee.
    assert child.package_fee == fee_for_vsize(RATE_20, 74 + 123)
    # An overpaying parent: the child still pays the rate on its own size (child_min).
    rich = cpfp_child_template(parent, 1_000_000, [coin], P2A_SCRIPT_PUBKEY, RATE_20)
    assert (rich.fee, rich.change.value) == (2460, 47_780)
    assert rich.change.serialize()[:8].hex() == "a4ba000000000000"


def test_regression_e2_child_of_the_anchored_outcome_tx(anchored: TicketedDLC) -> None:
    # The signed outcome transaction has one 64-byte witness element: weight 496, vsize 124.
    parent = anchored.outcome_txs[A0].with_witness(0, [bytes(64)])
    assert (parent.weight(), parent.vsize()) == (496, 124)
    coin = CpfpFundingInput(OutPoint(b"\xcd" * 32, 3), TxOut(100_000, SPK), P2TR_KEY_SPEND)
    child = contract_cpfp_child(anchored, parent, [coin], SPK, RATE_20)
    assert (child.parent_fee, child.child_vsize, child.package_fee) == (1240, 153, 5540)
    assert (child.fee, child.change.value) == (4300, 95_940)
    assert fee_for_vsize(RATE_20, child.child_vsize) == 3060
    assert child.tx.txid_hex() == (
        "1c48aafbe6338d5bb34794435c193da92167e8aaa061d5c3bef54bbb28eb5bcd"
    )
    assert child.tx.hex() == (
        "0200000002c2253eeff855f04fe4a35064769e3159829cb36475d408705efa822f5bca626a0100000000"
        "fdffffffcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd0300000000fd"
        "ffffff01c476010000000000225120d01115d548e7561b15c38f004d734633687cf4419620095bc5b0f4"
        "7070afe85a00000000"
    )
    assert child.prevouts == (anchor_output(240), TxOut(100_000, SPK))
    sighash = SighashCache(child.tx, child.prevouts).taproot(1, SIGHASH_DEFAULT)
    assert sighash.hex() == "4e8d2e6cad7a0887e73de7415a61d8f4fe5b4c59d52f3300b44069a16ba4c24b"
    # With the split transaction as the parent (signed weight 665, vsize 167, fee 1663).
    split = anchored.split_txs[A0]
    split_child = contract_cpfp_child(
        anchored, _with_split_witness(anchored, split), [coin], SPK, RATE_20
    )
    assert (split_child.parent_vsize, split_child.parent_fee) == (167, 1663)
    assert (split_child.package_fee, split_child.fee, split_child.change.value) == (
        6400,
        4737,
        95_503,
    )


def _with_split_witness(dlc: TicketedDLC, split: Transaction) -> Transaction:
    """``split`` with a witness of the predicted sizes (signature, preimage, leaf, control)."""
    info = dlc.outcome_infos[A0]
    sizes = info.split_input_weight().witness_elements
    return split.with_witness(0, [bytes(size) for size in sizes])


def test_cpfp_child_refusals(anchored: TicketedDLC, base: ContractParameters) -> None:
    parent = anchored.outcome_txs[A0].with_witness(0, [bytes(64)])
    coin = CpfpFundingInput(OutPoint(b"\xcd" * 32, 3), TxOut(100_000, SPK), P2TR_KEY_SPEND)
    with pytest.raises(ContractBuildError, match="InsufficientFunds") as info:
        contract_cpfp_child(anchored, parent, [], SPK, RATE_20)
    assert info.value.rule == "InsufficientFunds"
    small = CpfpFundingInput(coin.outpoint, TxOut(4_300 + 330 - 240 - 1, SPK), P2TR_KEY_SPEND)
    with pytest.raises(ContractBuildError, match="DustAmount"):
        contract_cpfp_child(anchored, parent, [small], SPK, RATE_20)
    just = CpfpFundingInput(coin.outpoint, TxOut(4_300 + 330 - 240, SPK), P2TR_KEY_SPEND)
    assert contract_cpfp_child(anchored, parent, [just], SPK, RATE_20).change.value == 330
    plain = TicketedDLC.new(base, OUTPOINT)
    with pytest.raises(ContractBuildError, match="MissingAnchor"):
        contract_cpfp_child(plain, plain.outcome_txs[A0], [coin], SPK, RATE_20)
    stranger = Transaction(2, [TxIn(OutPoint(b"\x09" * 32, 0))], [anchor_output(240)], 0)
    with pytest.raises(ContractBuildError, match="InvalidInput"):
        contract_cpfp_child(anchored, stranger, [coin], SPK, RATE_20)
