"""Fee bumping's store on real SQLite: watched parents keep their first height, children are
kept in order, an insert is idempotent, and a deleted competition takes its rows along."""

from __future__ import annotations

import dataclasses
import datetime as dt

from coordinator.adapters.sqlite.competitions import SqliteCompetitionStore
from coordinator.adapters.sqlite.cpfp import SqliteCpfpStore
from coordinator.adapters.sqlite.database import Database
from coordinator.domain.fee_bumping import Reason
from coordinator.domain.ports.cpfp import BumpChild, committed_fees, current_child
from tests.lifecycle.factories import NOW, make_terms, make_tickets
from ticketdlc.typed_bytes import Txid

PARENT = Txid("aa" * 32)


def child(n: int, competition_id, fee: int) -> BumpChild:  # type: ignore[no-untyped-def]
    return BumpChild(
        txid=Txid(f"{n:02x}" * 32),
        competition_id=competition_id,
        parent_txid=PARENT,
        raw_hex="0200",
        fee_sats=fee,
        vsize=110,
        package_rate=5_000,
        coins=(f"{'cc' * 32}:{n}",),
        reason=Reason.BELOW_ESTIMATE,
        created_at=NOW,
    )


async def test_children_are_persisted_in_order_and_marked(
    store: SqliteCompetitionStore, competitions_db: Database
) -> None:
    terms = make_terms(5, 3)
    await store.create(terms, make_tickets(5), NOW)
    cpfp = SqliteCpfpStore(competitions_db)
    watched = await cpfp.watch(PARENT, terms.id, "outcome", 120)
    assert (await cpfp.watch(PARENT, terms.id, "outcome", 125)) == watched
    assert watched.first_seen_height == 120

    first, second = child(1, terms.id, 1_000), child(2, terms.id, 2_500)
    await cpfp.insert_child(first)
    await cpfp.insert_child(second)
    await cpfp.insert_child(first)  # idempotent
    assert [c.txid for c in await cpfp.children_of(PARENT)] == [first.txid, second.txid]
    assert await cpfp.children_of(PARENT) == [first, second]  # every field round-trips

    later = NOW + dt.timedelta(minutes=5)
    await cpfp.mark_child_broadcast(first.txid, later, 121)
    await cpfp.mark_child_broadcast(first.txid, later + dt.timedelta(1), 130)  # first one stays
    await cpfp.abandon_child(second.txid, later, "refused: mempool min fee not met")
    await cpfp.mark_child_confirmed(first.txid, 122)
    stored = await cpfp.children_of_competition(terms.id)
    assert stored[0] == dataclasses.replace(
        first, broadcast_at=later, broadcast_height=121, confirmed_height=122
    )
    assert stored[1].abandon_reason == "refused: mempool min fee not met" and not stored[1].live
    assert current_child(stored) == stored[0]
    assert committed_fees(stored) == 1_000

    again = dataclasses.replace(second, reason=Reason.PARENT_REJECTED, created_at=later)
    await cpfp.insert_child(again)  # abandoned, then built again: the newest, live
    assert await cpfp.children_of(PARENT) == [stored[0], again]

    await competitions_db.write(
        lambda conn: conn.execute("DELETE FROM competitions WHERE id = ?", (str(terms.id),))
    )
    assert await cpfp.children_of(PARENT) == []
