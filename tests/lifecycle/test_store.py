"""The competitions store on real SQLite: atomic reservations, guarded writes, derived states."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import os
import uuid

import pytest

from coordinator.adapters.sqlite.competitions import SqliteCompetitionStore
from coordinator.app.competitions.read_cache import Answer, ReadCache
from coordinator.domain.competitions.errors import ErrorKind, ErrorState, StepError
from coordinator.domain.competitions.records import (
    Entry,
    Milestone,
    Payout,
    SettlementTx,
    TxKind,
)
from coordinator.domain.competitions.states import State, derive_state
from coordinator_core.errors import ConflictError
from coordinator_core.ids import uuid7
from coordinator_core.observations import Comparison, StationPicks
from tests.lifecycle.factories import NOW, make_terms, make_tickets


def rotate(ticket_id: uuid.UUID) -> tuple[bytes, str]:
    preimage = os.urandom(32)
    return hashlib.sha256(preimage).digest(), "sealed:" + preimage.hex()


async def new_competition(store: SqliteCompetitionStore, entries: int = 5):  # type: ignore[no-untyped-def]
    terms = make_terms(entries, min(3, entries - 1))
    tickets = make_tickets(entries)
    await store.create(terms, tickets, NOW)
    return terms, tickets


def entry_for(ticket, owner: str, terms) -> Entry:  # type: ignore[no-untyped-def]
    return Entry(
        id=ticket.entry_id,
        competition_id=terms.id,
        ticket_id=ticket.id,
        owner=owner,
        ephemeral_pubkey=b"\x02" + os.urandom(32),
        ephemeral_privatekey_encrypted="enc",
        payout_hash=os.urandom(32),
        payout_preimage_encrypted="enc",
        picks=(StationPicks(stations="KORD", temp_high=Comparison.OVER),),
        created_at=NOW,
    )


async def test_create_and_load(store: SqliteCompetitionStore) -> None:
    terms, tickets = await new_competition(store)
    loaded = await store.load(terms.id)
    assert loaded is not None
    assert loaded.terms == terms
    assert loaded.state is State.CREATED
    assert loaded.roster.total_tickets == 5
    stored = await store.tickets_of(terms.id)
    assert [t.id for t in stored] == [t.id for t in tickets]
    assert [t.entry_id for t in stored] == [t.entry_id for t in tickets]
    with pytest.raises(ConflictError):
        await store.create(terms, make_tickets(5), NOW)


async def test_two_hundred_reservers_get_ten_distinct_tickets(
    store: SqliteCompetitionStore,
) -> None:
    terms, _ = await new_competition(store, entries=10)
    holders = [f"{i:064x}" for i in range(200)]
    results = await asyncio.gather(*(store.reserve(terms.id, h, NOW, rotate) for h in holders))
    reserved = [r for r in results if r is not None]
    assert len(reserved) == 10
    assert len({t.id for t in reserved}) == 10
    assert len({t.reserved_by for t in reserved}) == 10
    tickets = await store.tickets_of(terms.id)
    assert all(t.reserved_by is not None for t in tickets)


async def test_reservation_is_reused_and_rotated_after_cancel(
    store: SqliteCompetitionStore,
) -> None:
    terms, _ = await new_competition(store, entries=2)
    alice, bob, carol = "a" * 64, "b" * 64, "c" * 64
    first = await store.reserve(terms.id, alice, NOW, rotate)
    assert first is not None
    await store.set_invoice(first.id, alice, "lnbcrt1", NOW + dt.timedelta(minutes=10))
    again = await store.reserve(terms.id, alice, NOW + dt.timedelta(minutes=5), rotate)
    assert again is not None and again.id == first.id and again.payment_request == "lnbcrt1"
    other = await store.reserve(terms.id, bob, NOW, rotate)
    assert other is not None and other.id != first.id
    # Full: nobody else gets one, even after alice's invoice expired, until LND cancelled it.
    later = NOW + dt.timedelta(minutes=11)
    assert await store.reserve(terms.id, carol, later, rotate) is None
    assert await store.mark_invoice_cancelled(first.id, later)
    taken = await store.reserve(terms.id, carol, later, rotate)
    assert taken is not None and taken.id == first.id
    assert taken.hash != first.hash and taken.payment_request is None
    assert taken.entry_id == first.entry_id


async def test_entries_need_the_holders_paid_ticket(store: SqliteCompetitionStore) -> None:
    terms, _ = await new_competition(store, entries=2)
    alice, bob = "a" * 64, "b" * 64
    ticket = await store.reserve(terms.id, alice, NOW, rotate)
    assert ticket is not None
    with pytest.raises(ConflictError, match="not been paid"):
        await store.insert_entry(entry_for(ticket, alice, terms))
    assert await store.mark_paid(ticket.id, NOW)
    assert not await store.mark_paid(ticket.id, NOW)  # once
    with pytest.raises(ConflictError, match="not reserved by you"):
        await store.insert_entry(entry_for(ticket, bob, terms))
    wrong_id = dataclasses.replace(entry_for(ticket, alice, terms), id=uuid7())
    with pytest.raises(ConflictError, match="entry id"):
        await store.insert_entry(wrong_id)
    entry = entry_for(ticket, alice, terms)
    await store.insert_entry(entry)
    with pytest.raises(ConflictError, match="already has an entry"):
        await store.insert_entry(entry)
    loaded = await store.load(terms.id)
    assert loaded is not None and loaded.state is State.COLLECTING_ENTRIES
    page = await store.entries_page(alice, 10)
    assert [e.id for e in page.items] == [entry.id]
    assert (await store.entries_page(bob, 10)).items == []


async def test_state_sql_matches_derive_state(store: SqliteCompetitionStore) -> None:
    terms, _ = await new_competition(store, entries=2)
    holders = ["a" * 64, "b" * 64]
    for holder in holders:
        ticket = await store.reserve(terms.id, holder, NOW, rotate)
        assert ticket is not None
        await store.mark_paid(ticket.id, NOW)
        await store.insert_entry(entry_for(ticket, holder, terms))
    for name in ("event_created_at", "entries_submitted_at", "contracted_at", "failed_at"):
        loaded = await store.load(terms.id)
        assert loaded is not None
        page = await store.page(10, states=[loaded.state])
        assert [c.id for c in page.items] == [terms.id], loaded.state
        assert derive_state(loaded.progress, loaded.roster) is loaded.state
        await store.advance(terms.id, Milestone(name, NOW))


async def test_milestones_are_written_once_and_reset_errors(store: SqliteCompetitionStore) -> None:
    terms, _ = await new_competition(store)
    failed = StepError("open_keygen", ErrorKind.PERMANENT, "no", NOW)
    await store.record_errors(terms.id, ErrorState((failed,), 2, 1, NOW))
    milestone = Milestone("keygen_opened_at", NOW, {"signer_session": {"k": 1}})
    assert await store.advance(terms.id, milestone)
    assert not await store.advance(terms.id, Milestone("keygen_opened_at", NOW))
    loaded = await store.load(terms.id)
    assert loaded is not None
    assert loaded.signer_session == {"k": 1}
    assert loaded.errors.errors == (failed,)
    assert (loaded.errors.permanent_errors, loaded.errors.retry_at) == (0, None)


async def test_cancel_is_refused_once_funding_is_persisted(store: SqliteCompetitionStore) -> None:
    terms, _ = await new_competition(store)
    funding = SettlementTx(terms.id, TxKind.FUNDING, "ab" * 32, "00", NOW)
    assert await store.insert_tx(funding) == funding
    assert not await store.cancel(terms.id, "operator", NOW)
    assert not await store.fail(terms.id, NOW, ErrorState())
    other, _ = await new_competition(store)
    assert await store.cancel(other.id, "operator", NOW)
    with pytest.raises(ConflictError):
        await store.insert_tx(SettlementTx(other.id, TxKind.FUNDING, "cd" * 32, "00", NOW))


async def test_close_and_split_exclude_each_other(store: SqliteCompetitionStore) -> None:
    terms, _ = await new_competition(store)
    close = SettlementTx(terms.id, TxKind.CLOSE, "01" * 32, "00", NOW)
    await store.insert_tx(close)
    assert await store.insert_tx(dataclasses.replace(close, txid="02" * 32)) == close
    with pytest.raises(ConflictError):
        await store.insert_tx(SettlementTx(terms.id, TxKind.SPLIT, "03" * 32, "00", NOW))
    await store.mark_tx_confirmed(close.txid, 120, NOW)
    (stored,) = await store.txs_of(terms.id)
    assert stored.confirmed_height == 120 and stored.broadcast_at == NOW
    assert await store.unconfirmed_txs() == []


async def test_one_live_payout_per_entry_and_per_hash(store: SqliteCompetitionStore) -> None:
    terms, _ = await new_competition(store, entries=2)
    entries = []
    for holder in ("a" * 64, "b" * 64):
        ticket = await store.reserve(terms.id, holder, NOW, rotate)
        assert ticket is not None
        await store.mark_paid(ticket.id, NOW)
        entry = entry_for(ticket, holder, terms)
        await store.insert_entry(entry)
        entries.append(entry)

    def payout(entry: Entry, payment_hash: bytes) -> Payout:
        return Payout(
            uuid7(), entry.id, terms.id, "lnbcrt", payment_hash, 100, NOW, 10, 1000, NOW, 18
        )

    first = payout(entries[0], b"\x01" * 32)
    await store.insert_payout(first)
    with pytest.raises(ConflictError, match="in progress"):
        await store.insert_payout(payout(entries[0], b"\x02" * 32))
    with pytest.raises(ConflictError, match="another payout"):
        await store.insert_payout(payout(entries[1], b"\x01" * 32))
    assert await store.mark_payout_failed(first.id, NOW, "no route")
    retry = payout(entries[0], b"\x01" * 32)  # the same invoice again, after a failure
    await store.insert_payout(retry)
    assert [p.id for p in await store.pending_payouts()] == [retry.id]
    assert await store.mark_payout_succeeded(retry.id, NOW, b"\x05" * 32, 1000)
    loaded = await store.load(terms.id)
    assert loaded is not None and loaded.paid_out_entries == 1
    # The node's record wins, but an entry never ends with two successful payouts.
    with pytest.raises(ConflictError):
        await store.mark_payout_succeeded(first.id, NOW, b"\x05" * 32, 1000)


async def test_a_list_answer_is_served_again_only_while_nothing_was_written(
    store: SqliteCompetitionStore,
) -> None:
    cache = ReadCache(size=2)
    before = store.version()
    await store.page(10)  # reads change nothing
    assert store.version() == before
    cache.put("list", before, Answer(b"[]", {}))
    assert cache.get("list", store.version()) == Answer(b"[]", {})
    terms, _ = await new_competition(store)
    assert store.version() != before  # a write: the cached list is not current any more
    assert cache.get("list", store.version()) is None
    assert [c.id for c in (await store.page(10)).items] == [terms.id]
    for key in ("a", "b", "c"):  # bounded: the least recently used goes first
        cache.put(key, store.version(), Answer(key.encode(), {}))
    assert cache.get("list", store.version()) is None and cache.get("a", store.version()) is None
    assert cache.get("c", store.version()) == Answer(b"c", {})


async def test_heavy_documents_are_parsed_once_per_text(store: SqliteCompetitionStore) -> None:
    terms, _ = await new_competition(store)
    params = {"players": [{"pubkey": f"{i:064x}"} for i in range(50)], "outcomes": list(range(99))}
    await store.set_documents(terms.id, {"contract_parameters": params})
    first = await store.load(terms.id)
    again = await store.load(terms.id)
    assert first is not None and again is not None
    assert first.contract_parameters == params
    assert again.contract_parameters is first.contract_parameters  # the same text: not parsed
    light = await store.load(terms.id, documents=False)
    assert light is not None and light.contract_parameters is None
    changed = {**params, "outcomes": [1]}
    await store.set_documents(terms.id, {"contract_parameters": changed})
    later = await store.load(terms.id)
    assert later is not None and later.contract_parameters == changed
