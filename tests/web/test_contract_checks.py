"""The browser's check of a player's payout paths, next to the player client's.

Contracts are built and signed locally with ``ticketdlc`` (in-process MuSig2 sessions of the
market maker and every player) in each layout, with and without anchors; the bundled
``verifyPayoutPaths`` (``web/src/contract.js``) must report the same checks, with the same
verdicts and details, and the same payout per outcome, as
:func:`coordinator.player.verify.verify_payout_paths` for every player, and must report a
tampered signature, a swapped ticket hash or wrong terms exactly as Python does.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page

from coordinator.player.verify import ExpectedTerms, PayoutReport, verify_payout_paths
from coordinator_core.entry_keys import EntryKeys, derive_entry_keys
from coordinator_core.ids import uuid7
from tests.dlc.conftest import Party
from tests.dlc.onchain import sign_with_every_party
from tests.web.conftest import Site
from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.competition import Announcement, OutcomeSpace
from ticketdlc.contract import (
    CompetitionEntry,
    ContractSignatures,
    SignedContract,
    TicketedDLC,
    competition_contract_parameters,
)
from ticketdlc.contract.jsoncodec import params_to_json
from ticketdlc.contract.types import AnchorParams, ContractLayout
from ticketdlc.crypto.secp import Point

EARLIEST = uuid.UUID(int=(7 << 76) | (2 << 62))  # a version-7 id older than every other


@dataclass
class Contract:
    signed: SignedContract
    keys: list[EntryKeys]  # in contract order
    tickets: list[bytes]
    entries: int
    places: int
    delta: int
    oracle_secret: int = 0
    nonce_secret: int = 0

    def expected(self, **changes: Any) -> ExpectedTerms:
        terms: dict[str, Any] = {
            "entries": self.entries,
            "places": self.places,
            "funding_value": self.signed.params.funding_value,
            "relative_locktime_block_delta": self.delta,
            "entry_ids": [k.entry_id for k in self.keys],
        }
        terms.update(changes)
        return ExpectedTerms(**terms)


def build(
    entries: int, places: int, *, layout: ContractLayout, anchor: int | None, delta: int = 6
) -> Contract:
    space = OutcomeSpace(entries, places)
    oracle_secret, nonce_secret = secrets.randbelow(2**255) + 1, secrets.randbelow(2**255) + 1
    announcement = Announcement.derive(
        space, Point.from_secret(oracle_secret), Point.from_secret(nonce_secret)
    )
    seeds = [os.urandom(32) for _ in range(entries)]
    keys = [derive_entry_keys(seed, "regtest", uuid7()) for seed in seeds]
    tickets = [secrets.token_bytes(32) for _ in range(entries)]
    mm_secret = secrets.token_bytes(32)
    params = competition_contract_parameters(
        [
            CompetitionEntry(k.entry_id, k.pubkey, hashlib.sha256(t).digest(), k.payout_hash)
            for k, t in zip(keys, tickets, strict=True)
        ],
        announcement,
        800_000,
        places,
        Point.from_secret(mm_secret),
        funding_value=300_000,
        fee_rate=500,
        relative_locktime_block_delta=delta,
        layout=layout,
        anchor=None if anchor is None else AnchorParams(anchor),
    )
    outpoint = OutPoint(os.urandom(32), 1)
    dlc = (TicketedDLC.new if layout is ContractLayout.OUTCOME_BOUND else TicketedDLC.rebuild)(
        params, outpoint
    )
    party = Party(mm_secret, [k.secret for k in keys], tickets, [k.payout_preimage for k in keys])
    signed = sign_with_every_party(dlc, party)
    order = sorted(range(entries), key=lambda i: keys[i].entry_id.int)
    return Contract(
        signed,
        [keys[i] for i in order],
        [tickets[i] for i in order],
        entries,
        places,
        delta,
        oracle_secret,
        nonce_secret,
    )


@pytest.fixture(scope="module")
def contracts() -> dict[str, Contract]:
    return {
        "outcome-bound with anchor": build(4, 2, layout=ContractLayout.OUTCOME_BOUND, anchor=240),
        "outcome-bound, 3 places": build(5, 3, layout=ContractLayout.OUTCOME_BOUND, anchor=None),
        "legacy without anchor": build(3, 1, layout=ContractLayout.LEGACY, anchor=None),
    }


@pytest.fixture
def core(page: Page, site: Site) -> Page:
    page.goto(site.url + "/help")
    page.wait_for_function("window.forecastCore !== undefined")
    return page


JS_VERIFY = """async (cases) => {
  const c = window.forecastCore;
  const { contract } = await c.onDemand();
  return cases.map((k) => contract.verifyPayoutPaths(k.params, k.outpoint, k.signatures, {
    entryId: k.entryId, entryPubkey: c.fromHex(k.pubkey), ticketHash: c.fromHex(k.ticket),
    payoutHash: c.fromHex(k.payout), expected: k.expected }));
}"""


def _case(
    contract: Contract,
    index: int,
    signatures: dict[str, Any] | None = None,
    ticket: bytes | None = None,
    **expected: Any,
) -> dict[str, Any]:
    terms = contract.expected(**expected)
    keys = contract.keys[index]
    dlc = contract.signed.dlc
    return {
        "params": params_to_json(dlc.params),
        "outpoint": str(dlc.funding_outpoint),
        "signatures": contract.signed.signatures.to_json() if signatures is None else signatures,
        "entryId": str(keys.entry_id),
        "pubkey": keys.pubkey.to_bytes().hex(),
        "ticket": (ticket or hashlib.sha256(contract.tickets[index]).digest()).hex(),
        "payout": keys.payout_hash.hex(),
        "expected": {
            "entries": terms.entries,
            "places": terms.places,
            "fundingValue": terms.funding_value,
            "delta": terms.relative_locktime_block_delta,
            "entryIds": [str(e) for e in terms.entry_ids or []],
        },
        "_terms": terms,
    }


def _python(case: dict[str, Any]) -> PayoutReport:
    signatures = case["signatures"]
    params = case["params"]
    from ticketdlc.contract.jsoncodec import params_from_json

    return verify_payout_paths(
        params_from_json(params),
        case["outpoint"],
        None if signatures is None else ContractSignatures.from_json(signatures),
        entry_id=uuid.UUID(case["entryId"]),
        entry_pubkey=Point.from_bytes(bytes.fromhex(case["pubkey"])),
        ticket_hash=bytes.fromhex(case["ticket"]),
        payout_hash=bytes.fromhex(case["payout"]),
        expected=case["_terms"],
    )


def _agree(core: Page, cases: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    sent = [{k: v for k, v in case.items() if k != "_terms"} for case in cases.values()]
    reports = core.evaluate(JS_VERIFY, sent)
    out = {}
    for (name, case), js in zip(cases.items(), reports, strict=True):
        python = _python(case)
        assert [(c["name"], c["ok"], c["detail"]) for c in js["checks"]] == [
            (c.name, c.ok, c.detail) for c in python.checks
        ], name
        assert [
            (p["outcome"], p["weight"], p["totalWeight"], p["splitValue"]) for p in js["payouts"]
        ] == [(str(p.outcome), p.weight, p.total_weight, p.split_value) for p in python.payouts], (
            name
        )
        assert js["ok"] == python.ok and js["playerIndex"] == python.player_index, name
        out[name] = js
    return out


def test_every_player_sees_what_the_player_client_sees(
    core: Page, contracts: dict[str, Contract]
) -> None:
    cases = {
        f"{name} / player {i}": _case(contract, i)
        for name, contract in contracts.items()
        for i in range(contract.entries)
    }
    results = _agree(core, cases)
    assert all(r["ok"] for r in results.values())
    assert all(r["payouts"] for r in results.values())


def _flip(signature: str) -> str:
    raw = bytearray(bytes.fromhex(signature))
    raw[-1] ^= 0x01
    return raw.hex()


def test_tampering_is_reported_as_python_reports_it(
    core: Page, contracts: dict[str, Contract]
) -> None:
    contract = contracts["outcome-bound with anchor"]
    signatures = contract.signed.signatures.to_json()
    wins = [w for w in signatures["split_tx_signatures"] if w.endswith(":p1")]
    outcome = next(iter(signatures["outcome_tx_signatures"]))
    bad_split = {
        **signatures,
        "split_tx_signatures": {
            **signatures["split_tx_signatures"],
            wins[0]: _flip(signatures["split_tx_signatures"][wins[0]]),
        },
    }
    bad_outcome = {
        **signatures,
        "outcome_tx_signatures": {
            **signatures["outcome_tx_signatures"],
            outcome: _flip(signatures["outcome_tx_signatures"][outcome]),
        },
    }
    bad_expiry = {**signatures, "expiry_tx_signature": _flip(signatures["expiry_tx_signature"])}
    missing = {
        **signatures,
        "split_tx_signatures": {
            k: v for k, v in signatures["split_tx_signatures"].items() if k != wins[-1]
        },
    }
    results = _agree(
        core,
        {
            "tampered split signature": _case(contract, 1, bad_split),
            "tampered outcome signature": _case(contract, 0, bad_outcome),
            "tampered expiry signature": _case(contract, 2, bad_expiry),
            "missing split signature": _case(contract, 1, missing),
            "not signed yet": {**_case(contract, 1), "signatures": None},
            "another ticket hash": _case(contract, 1, ticket=os.urandom(32)),
            "another pool": _case(
                contract, 1, funding_value=contract.signed.params.funding_value + 1
            ),
            "another delta": _case(contract, 1, relative_locktime_block_delta=contract.delta + 1),
            "another entry count": _case(contract, 1, entries=5),
            "another order": _case(
                contract, 1, entry_ids=[EARLIEST, *[k.entry_id for k in contract.keys]]
            ),
        },
    )
    failed = {name: [c["name"] for c in r["checks"] if not c["ok"]] for name, r in results.items()}
    assert failed["tampered split signature"] == ["signatures"]
    assert "1 invalid signatures" in results["tampered split signature"]["checks"][-1]["detail"]
    assert failed["tampered outcome signature"] == ["signatures"]
    assert failed["tampered expiry signature"] == ["signatures"]
    assert failed["missing split signature"] == ["signatures"]
    assert failed["not signed yet"] == ["signatures"]
    assert failed["another ticket hash"] == ["ticket hash"]
    assert failed["another pool"] == ["funding value"]
    assert failed["another delta"] == ["relative timelock"]
    assert "players" in failed["another entry count"]
    assert failed["another order"] == ["player order"]


def test_a_stranger_is_not_in_the_contract(core: Page, contracts: dict[str, Contract]) -> None:
    contract = contracts["legacy without anchor"]
    stranger = derive_entry_keys(os.urandom(32), "regtest", uuid7())
    case = _case(contract, 0)
    case.update(entryId=str(stranger.entry_id), pubkey=stranger.pubkey.to_bytes().hex())
    result = _agree(core, {"stranger": case})["stranger"]
    assert result["playerIndex"] is None and not result["ok"]


# -- the on-chain claim: the same transactions as the player client ----------------------------

JS_CLAIM_TXS = """async ([signed, attestation, player, preimage, secret, script, rate]) => {
  const c = window.forecastCore;
  const { claim, btc } = await c.onDemand();
  const contract = claim.signedContract(signed);
  const hex = (tx) => c.toHex(btc.serializeTx(tx));
  const out = {};
  const { outcome, tx } = claim.signedOutcomeTx(contract, BigInt('0x' + attestation));
  out.outcome = outcome;
  out.outcomeTx = hex(tx);
  out.expiryTx = hex(claim.expiryTx(contract));
  out.splitTx = hex(claim.signedSplitTx(contract, outcome, player, c.fromHex(preimage)));
  const claimant = { playerIndex: player, entrySecret: c.fromHex(secret),
    ticketPreimage: c.fromHex(preimage), destinationScript: c.fromHex(script), feeRateSatVb: rate };
  out.winTx = hex(claim.winTransaction(contract, outcome, claimant));
  try { claim.winTransaction(contract, outcome, { ...claimant, feeRateSatVb: 100000 }); }
  catch (e) { out.tooExpensive = e.message; }
  try { claim.signedOutcomeTx(contract, 12345n); } catch (e) { out.wrongAttestation = e.message; }
  try { claim.signedSplitTx(contract, outcome, player, new Uint8Array(32)); }
  catch (e) { out.wrongPreimage = e.message; }
  return out;
}"""


def test_claim_transactions_are_the_player_clients(
    core: Page, contracts: dict[str, Contract]
) -> None:
    from coordinator.player.claim import Claimant, win_transaction
    from ticketdlc.competition import encode_ranking
    from ticketdlc.competition.attestation import attest
    from ticketdlc.contract import WinCondition
    from ticketdlc.contract.errors import SpendError

    for name, contract in contracts.items():
        signed = contract.signed
        space = OutcomeSpace(contract.entries, contract.places)
        for player in (0, contract.entries - 1):
            ranking = (player, *[i for i in range(contract.entries) if i != player])
            index = space.index_of(ranking[: contract.places])
            attestation = attest(
                contract.oracle_secret,
                contract.nonce_secret,
                encode_ranking(ranking[: contract.places]),
            )
            preimage = contract.tickets[player]
            script = bytes.fromhex("5120") + os.urandom(32)
            js = core.evaluate(
                JS_CLAIM_TXS,
                [
                    signed.to_json(),
                    f"{attestation:064x}",
                    player,
                    preimage.hex(),
                    contract.keys[player].secret.hex(),
                    script.hex(),
                    3,
                ],
            )
            outcome = signed.outcome_of_attestation(attestation)
            assert js["outcome"] == str(outcome), name
            assert js["outcomeTx"] == signed.signed_outcome_tx(index, attestation).serialize().hex()
            expiry = signed.expiry_tx()
            assert expiry is not None and js["expiryTx"] == expiry.serialize().hex()
            win = WinCondition(outcome, player)
            assert js["splitTx"] == signed.signed_split_tx(win, preimage).serialize().hex()
            claimant = Claimant(player, contract.keys[player].secret, preimage, script, 3)
            assert js["winTx"] == win_transaction(signed, win, claimant).serialize().hex(), name
            with pytest.raises(SpendError):
                win_transaction(
                    signed, win, Claimant(player, claimant.entry_secret, preimage, script, 100_000)
                )
            assert "choose a lower fee rate" in js["tooExpensive"]
            assert "matches no locking point" in js["wrongAttestation"]
            assert "does not match the ticket hash" in js["wrongPreimage"]
