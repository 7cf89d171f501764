"""Fee bumping's store on competitions.db (implements ``CpfpStore``): ``cpfp_parents`` and
``cpfp_children``."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid

from coordinator.adapters.sqlite.competitions import db_time, parse_time
from coordinator.adapters.sqlite.database import Database
from coordinator.domain.fee_bumping import Reason
from coordinator.domain.ports.cpfp import BumpChild, CpfpStore, WatchedParent
from ticketdlc.typed_bytes import Txid

_CHILD_COLUMNS = (
    "txid, competition_id, parent_txid, raw_hex, fee_sats, vsize, package_rate, coins, reason, "
    "created_at, broadcast_at, broadcast_height, abandoned_at, abandon_reason, confirmed_height"
)


def _child(row: sqlite3.Row) -> BumpChild:
    return BumpChild(
        txid=Txid(row["txid"]),
        competition_id=uuid.UUID(row["competition_id"]),
        parent_txid=Txid(row["parent_txid"]),
        raw_hex=row["raw_hex"],
        fee_sats=row["fee_sats"],
        vsize=row["vsize"],
        package_rate=row["package_rate"],
        coins=tuple(json.loads(row["coins"])),
        reason=Reason(row["reason"]),
        created_at=parse_time(row["created_at"]) or dt.datetime.min.replace(tzinfo=dt.UTC),
        broadcast_at=parse_time(row["broadcast_at"]),
        broadcast_height=row["broadcast_height"],
        abandoned_at=parse_time(row["abandoned_at"]),
        abandon_reason=row["abandon_reason"],
        confirmed_height=row["confirmed_height"],
    )


class SqliteCpfpStore(CpfpStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def watch(
        self, txid: Txid, competition_id: uuid.UUID, kind: str, tip: int
    ) -> WatchedParent:
        def write(conn: sqlite3.Connection) -> WatchedParent:
            conn.execute(
                "INSERT INTO cpfp_parents (txid, competition_id, kind, first_seen_height) "
                "VALUES (?,?,?,?) ON CONFLICT (txid) DO NOTHING",
                (txid, str(competition_id), kind, tip),
            )
            row = conn.execute("SELECT * FROM cpfp_parents WHERE txid = ?", (txid,)).fetchone()
            return WatchedParent(
                Txid(row["txid"]),
                uuid.UUID(row["competition_id"]),
                row["kind"],
                row["first_seen_height"],
            )

        return await self.db.write(write)

    async def insert_child(self, child: BumpChild) -> None:
        def write(conn: sqlite3.Connection) -> None:
            found = conn.execute(
                "SELECT abandoned_at FROM cpfp_children WHERE txid = ?", (child.txid,)
            ).fetchone()
            if found is not None and found["abandoned_at"] is None:
                return
            if found is not None:  # abandoned, now built again: the newest child once more
                conn.execute("DELETE FROM cpfp_children WHERE txid = ?", (child.txid,))
            conn.execute(
                f"INSERT INTO cpfp_children ({_CHILD_COLUMNS}) "  # noqa: S608 - fixed columns
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    child.txid,
                    str(child.competition_id),
                    child.parent_txid,
                    child.raw_hex,
                    child.fee_sats,
                    child.vsize,
                    child.package_rate,
                    json.dumps(list(child.coins)),
                    child.reason.value,
                    db_time(child.created_at),
                    None if child.broadcast_at is None else db_time(child.broadcast_at),
                    child.broadcast_height,
                    None if child.abandoned_at is None else db_time(child.abandoned_at),
                    child.abandon_reason,
                    child.confirmed_height,
                ),
            )

        await self.db.write(write)

    async def _children(self, column: str, value: str) -> list[BumpChild]:
        def read(conn: sqlite3.Connection) -> list[BumpChild]:
            rows = conn.execute(
                f"SELECT * FROM cpfp_children WHERE {column} = ? ORDER BY rowid",  # noqa: S608
                (value,),
            ).fetchall()
            return [_child(row) for row in rows]

        return await self.db.read(read)

    async def children_of(self, parent_txid: Txid) -> list[BumpChild]:
        return await self._children("parent_txid", parent_txid)

    async def children_of_competition(self, competition_id: uuid.UUID) -> list[BumpChild]:
        return await self._children("competition_id", str(competition_id))

    async def mark_child_broadcast(self, txid: Txid, at: dt.datetime, height: int) -> None:
        await self._update(
            "broadcast_at = ?, broadcast_height = ? WHERE txid = ? AND broadcast_at IS NULL",
            (db_time(at), height, txid),
        )

    async def abandon_child(self, txid: Txid, at: dt.datetime, reason: str) -> None:
        await self._update(
            "abandoned_at = ?, abandon_reason = ? WHERE txid = ? AND abandoned_at IS NULL",
            (db_time(at), reason[:200], txid),
        )

    async def mark_child_confirmed(self, txid: Txid, height: int) -> None:
        await self._update("confirmed_height = ? WHERE txid = ?", (height, txid))

    async def _update(self, assignment: str, values: tuple[object, ...]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(f"UPDATE cpfp_children SET {assignment}", values)  # noqa: S608

        await self.db.write(write)
