"""``coordinator player`` commands that need no coordinator: keys, and the on-chain claim from a
kept contract (the coordinator may be gone by then)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.player.client import EntryRecord, PlayerState
from coordinator.player.identity import load_identity
from tests.conftest import free_port
from tests.player.contracts import build_competition
from tests.support.chain import ChainHandle, running_chain
from ticketdlc.bitcoin.address import address_to_script_pubkey, script_pubkey_to_address
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.crypto.secp import Point


def player_cli(seed: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", "player", "--seed-file", str(seed), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
        env=dict(os.environ, COORDINATOR_URL="http://127.0.0.1:9"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainHandle]:
    with running_chain(Path(tmp_path_factory.mktemp("chain")), free_port()) as handle:
        yield handle


def test_init_and_whoami(tmp_path: Path) -> None:
    seed = tmp_path / "me" / "seed.json"
    made = player_cli(seed, "init", "--network", "regtest")
    assert made.returncode == 0, made.stderr
    assert (seed.stat().st_mode & 0o777) == 0o600
    who = json.loads(player_cli(seed, "whoami").stdout)
    assert who["npub"] == load_identity(seed).npub and who["network"] == "regtest"
    again = player_cli(seed, "init")
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr


def test_claim_command_from_a_kept_contract(tmp_path: Path, chain: ChainHandle) -> None:
    seed = tmp_path / "seed.json"
    assert player_cli(seed, "init").returncode == 0
    me = load_identity(seed)
    comp = build_competition(chain, 3, 1, delta=2, identities=[me])
    keys = comp.keys[0]
    competition_id = uuid.uuid4()
    state = PlayerState.load(seed.with_name("seed.state.json"))
    state.put(EntryRecord(
        str(competition_id), str(uuid.uuid4()), str(keys.entry_id),
        hashlib.sha256(comp.tickets[0]).hexdigest(), "", 1000,
    ))  # fmt: skip
    state.save_contract(str(competition_id), comp.signed.to_json())
    # Somebody broadcast the outcome in which this player wins.
    ranking = (0,)
    outcome = comp.signed.signed_outcome_tx(comp.outcome_index(ranking), comp.attestation(ranking))
    assert chain.broadcast(outcome.serialize()).accepted
    address = script_pubkey_to_address(p2tr_script(Point.from_secret(99).xonly()), "bcrt")
    chain.automine(0.3)
    try:
        result = player_cli(
            seed, "claim", str(keys.entry_id), "--to", address, "--esplora-url", chain.url,
            "--fee-rate", "3", "--ticket-preimage", comp.tickets[0].hex(), "--wait",
            "--poll-secs", "0.2",
        )  # fmt: skip
    finally:
        chain.automine(0)
    assert result.returncode == 0, result.stderr
    steps = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["state"] for s in steps if s["state"] != "waiting"] == [
        "broadcast", "broadcast", "claimed",
    ]  # fmt: skip
    win_txid = steps[-1]["txid"]
    paid = chain.tx(win_txid)["vout"][0]
    assert bytes.fromhex(paid["scriptpubkey"]) == address_to_script_pubkey(address)
    bad = player_cli(seed, "claim", str(keys.entry_id), "--to", "bc1qnotanaddress",
                     "--esplora-url", chain.url)  # fmt: skip
    assert bad.returncode != 0 and "--to" in bad.stderr
