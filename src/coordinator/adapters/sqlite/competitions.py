"""The lifecycle's store on competitions.db (implements ``CompetitionStore``).

Times are stored as fixed-width RFC 3339 UTC strings (microseconds, ``Z``) so they compare as
text; JSON documents as compact TEXT. The derived state is computed in SQL from the same
derivation table as :func:`coordinator.domain.competitions.states.derive_state`, so lists can
filter by state without a state column.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from coordinator.adapters.sqlite.database import Database
from coordinator.domain.competitions.errors import ErrorState, StepError
from coordinator.domain.competitions.records import (
    Competition,
    Entry,
    Milestone,
    NewTicket,
    OwedWinner,
    Page,
    Payout,
    PayoutHold,
    Registration,
    SettlementTx,
    Ticket,
    TxKind,
)
from coordinator.domain.competitions.states import DERIVATION, Progress, Roster, State
from coordinator.domain.competitions.terms import (
    CompetitionTerms,
    terms_from_json,
    terms_to_json,
)
from coordinator.domain.competitions.tickets import is_free, is_live_reservation
from coordinator.domain.ports.competitions import CompetitionStore, Rotate
from coordinator_core.errors import ConflictError, NotFoundError
from coordinator_core.observations import StationPicks
from ticketdlc.typed_bytes import Txid

MILESTONES: Final = frozenset(
    name for name in Progress.__dataclass_fields__ if name != "created_at"
)
DOCUMENTS: Final = {
    "event_announcement": "json",
    "contract_parameters": "json",
    "funding_psbt": "text",
    "funding_outpoint": "text",
    "funding_transaction": "text",
    "outcome_transaction": "text",
    "signed_contract": "json",
    "attestation": "text",
    "settled_outcome": "text",
    "signer_session": "json",
    "cancel_reason": "text",
}
_COLUMN = {
    "funding_psbt": "funding_psbt_base64",
    "signer_session": "keymeld_session",
}
HEAVY_DOCUMENTS: Final = ("event_announcement", "contract_parameters", "signed_contract")
PARSED_DOCUMENTS: Final = 24  # heavy documents kept parsed (three per competition)


def db_time(value: dt.datetime) -> str:
    """Fixed-width UTC text (``2026-01-02T03:04:05.000006Z``): sorts as time."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC)


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else db_time(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _state_case() -> str:
    """SQL for the derived state of a ``competitions c`` row (mirrors ``derive_state``)."""
    parts = []
    for name, state in DERIVATION:
        column = f"c.{name}"
        if state in (State.CANCELLED, State.FAILED):
            parts.append(
                f"WHEN {column} IS NOT NULL AND c.funding_broadcasted_at IS NULL "
                f"THEN '{state.value}'"
            )
        else:
            parts.append(f"WHEN {column} IS NOT NULL THEN '{state.value}'")
    total = "json_extract(c.event_submission, '$.total_allowed_entries')"
    parts.append(
        f"WHEN {total} > 0 AND (SELECT COUNT(*) FROM entries e WHERE e.event_id = c.id) = {total} "
        "AND (SELECT COUNT(*) FROM entries e JOIN tickets t ON t.id = e.ticket_id "
        "WHERE e.event_id = c.id AND t.paid_at IS NOT NULL AND t.cancelled_at IS NULL) = "
        f"{total} "
        f"THEN '{State.ENTRIES_COLLECTED.value}'"
    )
    parts.append(
        "WHEN EXISTS (SELECT 1 FROM entries e WHERE e.event_id = c.id) "
        f"THEN '{State.COLLECTING_ENTRIES.value}'"
    )
    return "CASE " + " ".join(parts) + f" ELSE '{State.CREATED.value}' END"


STATE_SQL: Final = _state_case()

_COUNTS = """
    (SELECT COUNT(*) FROM tickets t WHERE t.event_id = c.id) AS total_tickets,
    (SELECT COUNT(*) FROM entries e WHERE e.event_id = c.id) AS total_entries,
    (SELECT COUNT(*) FROM entries e JOIN tickets t ON t.id = e.ticket_id
        WHERE e.event_id = c.id AND t.paid_at IS NOT NULL AND t.cancelled_at IS NULL)
        AS paid_entries,
    (SELECT COUNT(DISTINCT p.entry_id) FROM payouts p JOIN entries e ON e.id = p.entry_id
        WHERE e.event_id = c.id AND p.succeed_at IS NOT NULL) AS paid_out_entries
"""


class ParsedDocuments:
    """The last parsed value of each heavy JSON document, kept with its text.

    The processor loads every active competition on each tick; a funded contract's documents
    are megabytes of JSON that change only a few times in its life. The same text is parsed
    once: its value is returned again, shared (callers never mutate documents; they write new
    ones through ``set_documents``)."""

    def __init__(self, size: int = PARSED_DOCUMENTS) -> None:
        self._size = size
        self._values: OrderedDict[tuple[str, str], tuple[str, Any]] = OrderedDict()
        self._lock = threading.Lock()  # loads run on reader threads

    def parse(self, competition_id: str, column: str, text: str) -> Any:
        key = (competition_id, column)
        with self._lock:
            found = self._values.get(key)
            if found is not None and found[0] == text:
                self._values.move_to_end(key)
                return found[1]
        value = json.loads(text)
        with self._lock:
            self._values[key] = (text, value)
            self._values.move_to_end(key)
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value


def _competition(
    row: sqlite3.Row, documents: bool, parsed: ParsedDocuments | None = None
) -> Competition:
    keys = row.keys()
    progress = Progress(
        created_at=_req_time(row["created_at"]),
        **{name: parse_time(row[name]) for name in MILESTONES},
    )
    raw_errors = json.loads(row["errors"]) if row["errors"] else []
    errors = ErrorState(
        tuple(StepError.from_json(e) for e in raw_errors),
        int(row["consecutive_failures"]),
        int(row["permanent_errors"]),
        parse_time(row["retry_at"]),
    )
    docs: dict[str, Any] = {}
    for name, kind in DOCUMENTS.items():
        column = _COLUMN.get(name, name)
        if not documents and name in HEAVY_DOCUMENTS:
            docs[name] = None  # not parsed: a signed contract can be megabytes of JSON
            continue
        if column not in keys:
            continue
        value = row[column]
        if value is not None and kind == "json":
            if parsed is not None and name in HEAVY_DOCUMENTS:
                value = parsed.parse(row["id"], column, value)
            else:
                value = json.loads(value)
        docs[name] = value
    return Competition(
        id=uuid.UUID(row["id"]),
        terms=terms_from_json(json.loads(row["event_submission"])),
        progress=progress,
        roster=Roster(
            total_tickets=int(row["total_tickets"]),
            paid_entries=int(row["paid_entries"]),
            entries=int(row["total_entries"]),
        ),
        errors=errors,
        paid_out_entries=int(row["paid_out_entries"]),
        **docs,
    )


def _req_time(value: str) -> dt.datetime:
    parsed = parse_time(value)
    assert parsed is not None
    return parsed


def _registration(row: sqlite3.Row) -> Registration | None:
    if row["registration_public_key"] is None:
        return None
    return Registration(
        holder=row["registration_holder"],
        public_key=bytes.fromhex(row["registration_public_key"]),
        auth_pubkey=bytes.fromhex(row["registration_auth_pubkey"]),
        envelope=bytes.fromhex(row["registration_envelope"]),
        enclave_key_epoch=int(row["registration_epoch"]),
        registered_at=_req_time(row["registered_at"]),
        forwarded_at=parse_time(row["registration_forwarded_at"]),
        error=row["registration_error"],
    )


_TICKET_SELECT = """
    SELECT t.*, EXISTS (SELECT 1 FROM entries e WHERE e.ticket_id = t.id) AS has_entry
    FROM tickets t
"""


def _ticket(row: sqlite3.Row) -> Ticket:
    return Ticket(
        id=uuid.UUID(row["id"]),
        competition_id=uuid.UUID(row["event_id"]),
        entry_id=uuid.UUID(row["entry_id"]),
        hash=bytes.fromhex(row["hash"]),
        sealed_preimage=row["encrypted_preimage"],
        payment_request=row["payment_request"],
        invoice_expires_at=parse_time(row["invoice_expires_at"]),
        reserved_at=parse_time(row["reserved_at"]),
        reserved_by=row["reserved_by"],
        paid_at=parse_time(row["paid_at"]),
        settled_at=parse_time(row["settled_at"]),
        invoice_cancelled_at=parse_time(row["cancelled_at"]),
        has_entry=bool(row["has_entry"]),
        registration=_registration(row),
    )


_ENTRY_SELECT = """
    SELECT e.*, t.paid_at AS ticket_paid_at FROM entries e JOIN tickets t ON t.id = e.ticket_id
"""


def _entry(row: sqlite3.Row) -> Entry:
    submission = json.loads(row["entry_submission"])
    return Entry(
        id=uuid.UUID(row["id"]),
        competition_id=uuid.UUID(row["event_id"]),
        ticket_id=uuid.UUID(row["ticket_id"]),
        owner=row["pubkey"],
        ephemeral_pubkey=bytes.fromhex(row["ephemeral_pubkey"]),
        ephemeral_privatekey_encrypted=row["ephemeral_privatekey_encrypted"],
        payout_hash=bytes.fromhex(row["payout_hash"]),
        payout_preimage_encrypted=row["payout_preimage_encrypted"],
        picks=tuple(StationPicks.model_validate(p) for p in submission["expected_observations"]),
        created_at=_req_time(row["created_at"]),
        sealed_ephemeral_privatekey=row["ephemeral_privatekey"],
        sealed_payout_preimage=row["payout_preimage"],
        sellback_broadcasted_at=parse_time(row["sellback_broadcasted_at"]),
        reclaimed_broadcasted_at=parse_time(row["reclaimed_broadcasted_at"]),
        paid_at=parse_time(row["ticket_paid_at"]),
    )


_PAYOUT_SELECT = """
    SELECT p.*, e.event_id AS competition_id FROM payouts p JOIN entries e ON e.id = p.entry_id
"""


def _payout(row: sqlite3.Row) -> Payout:
    return Payout(
        id=uuid.UUID(row["id"]),
        entry_id=uuid.UUID(row["entry_id"]),
        competition_id=uuid.UUID(row["competition_id"]),
        payment_request=row["payout_payment_request"],
        payment_hash=bytes.fromhex(row["payment_hash"]),
        amount_sats=int(row["payout_amount_sats"]),
        initiated_at=_req_time(row["initiated_at"]),
        cltv_limit=int(row["cltv_limit"] or 0),
        fee_limit_sats=int(row["fee_limit_sats"] or 0),
        invoice_expires_at=_req_time(row["invoice_expires_at"]),
        min_final_cltv_expiry=int(row["min_final_cltv_expiry"] or 0),
        succeed_at=parse_time(row["succeed_at"]),
        failed_at=parse_time(row["failed_at"]),
        error=row["error"],
        fee_msat=row["fee_msat"],
        payment_preimage=bytes.fromhex(row["payment_preimage"])
        if row["payment_preimage"]
        else None,
        send_attempts=int(row["send_attempts"]),
        last_sent_at=parse_time(row["last_sent_at"]),
    )


def _tx(row: sqlite3.Row) -> SettlementTx:
    return SettlementTx(
        competition_id=uuid.UUID(row["competition_id"]),
        kind=TxKind(row["kind"]),
        txid=Txid(row["txid"]),
        raw_hex=row["raw_hex"],
        created_at=_req_time(row["created_at"]),
        player_index=int(row["player_index"]),
        fee_sats=row["fee_sats"],
        broadcast_at=parse_time(row["broadcast_at"]),
        confirmed_height=row["confirmed_height"],
        confirmed_at=parse_time(row["confirmed_at"]),
        observed=bool(row["observed"]),
    )


def _owed(row: sqlite3.Row) -> OwedWinner:
    return OwedWinner(
        entry_id=uuid.UUID(row["entry_id"]),
        competition_id=uuid.UUID(row["competition_id"]),
        player_index=int(row["player_index"]),
        amount_sats=int(row["amount_sats"]),
        output_value_sats=int(row["output_value_sats"]),
        owed_since=_req_time(row["owed_since"]),
        sweepable_at_height=int(row["sweepable_at_height"]),
        sweep_approved_at=parse_time(row["sweep_approved_at"]),
        claimed_on_chain_at=parse_time(row["claimed_on_chain_at"]),
        claim_txid=row["claim_txid"],
        swept_at=parse_time(row["swept_at"]),
        uneconomic_at=parse_time(row["uneconomic_at"]),
    )


def _hold(row: sqlite3.Row) -> PayoutHold:
    return PayoutHold(
        entry_id=uuid.UUID(row["entry_id"]),
        payment_hash=bytes.fromhex(row["payment_hash"]),
        amount_sats=int(row["amount_sats"]),
        reason=row["reason"],
        held_at=_req_time(row["held_at"]),
        released_at=parse_time(row["released_at"]),
    )


def _funding_started(conn: sqlite3.Connection, cid: str) -> bool:
    row = conn.execute(
        "SELECT funding_broadcasted_at IS NOT NULL OR EXISTS (SELECT 1 FROM "
        "settlement_transactions s WHERE s.competition_id = c.id AND s.kind = 'funding') "
        "FROM competitions c WHERE c.id = ?",
        (cid,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"competition {cid} not found")
    return bool(row[0])


class SqliteCompetitionStore:
    """:class:`CompetitionStore` on a :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._parsed = ParsedDocuments()

    def version(self) -> int:
        return self.db.generation

    # -- competitions ---------------------------------------------------------------------

    async def create(
        self, terms: CompetitionTerms, tickets: Sequence[NewTicket], at: dt.datetime
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO competitions (id, created_at, event_submission) VALUES (?,?,?)",
                    (str(terms.id), db_time(at), _dumps(terms_to_json(terms))),
                )
            except sqlite3.IntegrityError:
                raise ConflictError(f"competition {terms.id} already exists") from None
            conn.executemany(
                "INSERT INTO tickets (id, event_id, entry_id, encrypted_preimage, hash) "
                "VALUES (?,?,?,?,?)",
                [
                    (str(t.id), str(terms.id), str(t.entry_id), t.sealed_preimage, t.hash.hex())
                    for t in tickets
                ],
            )

        await self.db.write(write)

    async def load(self, competition_id: uuid.UUID, documents: bool = True) -> Competition | None:
        def read(conn: sqlite3.Connection) -> Competition | None:
            row = conn.execute(
                f"SELECT c.*, {_COUNTS} FROM competitions c WHERE c.id = ?",
                (str(competition_id),),
            ).fetchone()
            return None if row is None else _competition(row, documents, self._parsed)

        return await self.db.read(read)

    async def page(
        self,
        limit: int,
        cursor: uuid.UUID | None = None,
        states: Collection[State] | None = None,
        ids: Collection[uuid.UUID] | None = None,
    ) -> Page:
        light = ", ".join(
            f"c.{column}"
            for column in (
                "id", "created_at", "event_submission", "funding_psbt_base64",
                "funding_outpoint", "funding_transaction", "outcome_transaction", "attestation",
                "settled_outcome", "errors", "consecutive_failures", "permanent_errors",
                "retry_at", "cancel_reason", *sorted(MILESTONES),
            )
        )  # fmt: skip
        where, params = [], []
        if cursor is not None:
            where.append("c.id < ?")
            params.append(str(cursor))
        if ids is not None:
            where.append(f"c.id IN ({','.join('?' * len(ids))})")
            params.extend(str(i) for i in ids)
        query = (
            f"SELECT * FROM (SELECT {light}, {_COUNTS}, {STATE_SQL} AS state FROM competitions c"
        )
        if where:
            query += " WHERE " + " AND ".join(where)
        query += ")"
        if states is not None:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            params.extend(s.value for s in states)
        query += " ORDER BY id DESC LIMIT ?"
        params.append(str(limit + 1))

        def read(conn: sqlite3.Connection) -> Page:
            rows = conn.execute(query, params).fetchall()
            items = [_competition(row, documents=False) for row in rows[:limit]]
            more = len(rows) > limit
            return Page(items, str(items[-1].id) if more and items else None)

        return await self.db.read(read)

    async def state_counts(self) -> dict[State, int]:
        def read(conn: sqlite3.Connection) -> dict[State, int]:
            rows = conn.execute(
                f"SELECT state, COUNT(*) FROM (SELECT {STATE_SQL} AS state FROM competitions c) "
                "GROUP BY state"
            ).fetchall()
            return {State(r[0]): int(r[1]) for r in rows}

        return await self.db.read(read)

    async def payout_counts(self) -> dict[str, int]:
        def read(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT CASE WHEN succeed_at IS NOT NULL THEN 'succeeded' "
                "WHEN failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END AS status, "
                "COUNT(*) FROM payouts GROUP BY status"
            ).fetchall()
            return {str(r[0]): int(r[1]) for r in rows}

        return await self.db.read(read)

    async def active_ids(self) -> list[uuid.UUID]:
        def read(conn: sqlite3.Connection) -> list[uuid.UUID]:
            rows = conn.execute(
                "SELECT id FROM competitions WHERE completed_at IS NULL AND "
                "(cancelled_at IS NULL OR invoices_released_at IS NULL) ORDER BY id"
            ).fetchall()
            return [uuid.UUID(r[0]) for r in rows]

        return await self.db.read(read)

    async def advance(self, competition_id: uuid.UUID, milestone: Milestone) -> bool:
        if milestone.name not in MILESTONES:
            raise ValueError(f"unknown milestone {milestone.name}")
        assignments, params = self._document_sql(milestone.documents)
        assignments = [
            f"{milestone.name} = ?",
            *assignments,
            "consecutive_failures = 0",
            "permanent_errors = 0",
            "retry_at = NULL",
        ]

        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                f"UPDATE competitions SET {', '.join(assignments)} "
                f"WHERE id = ? AND {milestone.name} IS NULL",
                (db_time(milestone.at), *params, str(competition_id)),
            )
            return cursor.rowcount == 1

        return await self.db.write(write)

    @staticmethod
    def _document_sql(documents: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
        assignments, params = [], []
        for name, value in documents.items():
            kind = DOCUMENTS.get(name)
            if kind is None:
                raise ValueError(f"unknown document {name}")
            assignments.append(f"{_COLUMN.get(name, name)} = ?")
            params.append(_dumps(value) if kind == "json" and value is not None else value)
        return assignments, params

    async def set_documents(self, competition_id: uuid.UUID, documents: Mapping[str, Any]) -> None:
        assignments, params = self._document_sql(documents)
        if not assignments:
            return

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"UPDATE competitions SET {', '.join(assignments)} WHERE id = ?",
                (*params, str(competition_id)),
            )

        await self.db.write(write)

    async def record_errors(self, competition_id: uuid.UUID, errors: ErrorState) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE competitions SET errors = ?, consecutive_failures = ?, "
                "permanent_errors = ?, retry_at = ? WHERE id = ?",
                (
                    _dumps([e.to_json() for e in errors.errors]) if errors.errors else None,
                    errors.consecutive_failures,
                    errors.permanent_errors,
                    _time(errors.retry_at),
                    str(competition_id),
                ),
            )

        await self.db.write(write)

    async def fail(self, competition_id: uuid.UUID, at: dt.datetime, errors: ErrorState) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            if _funding_started(conn, str(competition_id)):
                return False
            cursor = conn.execute(
                "UPDATE competitions SET failed_at = ?, errors = ?, consecutive_failures = ?, "
                "permanent_errors = ?, retry_at = NULL "
                "WHERE id = ? AND failed_at IS NULL AND cancelled_at IS NULL",
                (
                    db_time(at),
                    _dumps([e.to_json() for e in errors.errors]) if errors.errors else None,
                    errors.consecutive_failures,
                    errors.permanent_errors,
                    str(competition_id),
                ),
            )
            return cursor.rowcount == 1

        return await self.db.write(write)

    async def cancel(self, competition_id: uuid.UUID, reason: str, at: dt.datetime) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            if _funding_started(conn, str(competition_id)):
                return False
            cursor = conn.execute(
                "UPDATE competitions SET cancelled_at = ?, cancel_reason = ? "
                "WHERE id = ? AND cancelled_at IS NULL AND completed_at IS NULL",
                (db_time(at), reason[:500], str(competition_id)),
            )
            return cursor.rowcount == 1

        return await self.db.write(write)

    # -- tickets --------------------------------------------------------------------------

    async def tickets_of(self, competition_id: uuid.UUID) -> list[Ticket]:
        def read(conn: sqlite3.Connection) -> list[Ticket]:
            rows = conn.execute(
                f"{_TICKET_SELECT} WHERE t.event_id = ? ORDER BY t.id", (str(competition_id),)
            ).fetchall()
            return [_ticket(r) for r in rows]

        return await self.db.read(read)

    async def ticket(self, ticket_id: uuid.UUID) -> Ticket | None:
        def read(conn: sqlite3.Connection) -> Ticket | None:
            row = conn.execute(f"{_TICKET_SELECT} WHERE t.id = ?", (str(ticket_id),)).fetchone()
            return None if row is None else _ticket(row)

        return await self.db.read(read)

    async def reserve(
        self, competition_id: uuid.UUID, holder: str, now: dt.datetime, rotate: Rotate
    ) -> Ticket | None:
        def write(conn: sqlite3.Connection) -> Ticket | None:
            rows = conn.execute(
                f"{_TICKET_SELECT} WHERE t.event_id = ? ORDER BY t.id", (str(competition_id),)
            ).fetchall()
            tickets = [_ticket(r) for r in rows]
            for ticket in tickets:
                if is_live_reservation(ticket.facts, holder, now):
                    return ticket
            free = [t for t in tickets if is_free(t.facts)]
            if not free:
                return None
            # Never reserved first, then the longest free; ids break ties.
            free.sort(key=lambda t: (t.reserved_at is not None, t.reserved_at or now, t.id.int))
            chosen = free[0]
            hash_, sealed = (
                (chosen.hash, chosen.sealed_preimage)
                if chosen.reserved_by is None and chosen.payment_request is None
                else rotate(chosen.id)
            )
            conn.execute(
                "UPDATE tickets SET reserved_at = ?, reserved_by = ?, hash = ?, "
                "encrypted_preimage = ?, payment_request = NULL, invoice_expires_at = NULL, "
                "cancelled_at = NULL, registration_holder = NULL, "
                "registration_public_key = NULL, registration_auth_pubkey = NULL, "
                "registration_envelope = NULL, registration_epoch = NULL, registered_at = NULL, "
                "registration_forwarded_at = NULL, registration_error = NULL WHERE id = ?",
                (db_time(now), holder, hash_.hex(), sealed, str(chosen.id)),
            )
            row = conn.execute(f"{_TICKET_SELECT} WHERE t.id = ?", (str(chosen.id),)).fetchone()
            return _ticket(row)

        return await self.db.write(write)

    async def set_invoice(
        self, ticket_id: uuid.UUID, holder: str, payment_request: str, expires_at: dt.datetime
    ) -> Ticket:
        def write(conn: sqlite3.Connection) -> Ticket:
            cursor = conn.execute(
                "UPDATE tickets SET payment_request = ?, invoice_expires_at = ? "
                "WHERE id = ? AND reserved_by = ? AND paid_at IS NULL AND cancelled_at IS NULL",
                (payment_request, db_time(expires_at), str(ticket_id), holder),
            )
            if cursor.rowcount != 1:
                raise ConflictError("the reservation changed while its invoice was created")
            row = conn.execute(f"{_TICKET_SELECT} WHERE t.id = ?", (str(ticket_id),)).fetchone()
            return _ticket(row)

        return await self.db.write(write)

    async def release_reservation(self, ticket_id: uuid.UUID, holder: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tickets SET reserved_at = NULL, reserved_by = NULL "
                "WHERE id = ? AND reserved_by = ? AND payment_request IS NULL",
                (str(ticket_id), holder),
            )

        await self.db.write(write)

    async def _set_once(self, ticket_id: uuid.UUID, column: str, at: dt.datetime) -> bool:
        guard = {
            "paid_at": "paid_at IS NULL AND cancelled_at IS NULL",
            "cancelled_at": "cancelled_at IS NULL AND settled_at IS NULL",
            "settled_at": "settled_at IS NULL AND paid_at IS NOT NULL AND cancelled_at IS NULL",
        }[column]

        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                f"UPDATE tickets SET {column} = ? WHERE id = ? AND {guard}",
                (db_time(at), str(ticket_id)),
            )
            return cursor.rowcount == 1

        return await self.db.write(write)

    async def mark_paid(self, ticket_id: uuid.UUID, at: dt.datetime) -> bool:
        return await self._set_once(ticket_id, "paid_at", at)

    async def mark_invoice_cancelled(self, ticket_id: uuid.UUID, at: dt.datetime) -> bool:
        return await self._set_once(ticket_id, "cancelled_at", at)

    async def mark_settled(self, ticket_id: uuid.UUID, at: dt.datetime) -> bool:
        return await self._set_once(ticket_id, "settled_at", at)

    async def ticket_by_hash(self, payment_hash: bytes) -> Ticket | None:
        def read(conn: sqlite3.Connection) -> Ticket | None:
            row = conn.execute(
                f"{_TICKET_SELECT} WHERE t.hash = ?", (payment_hash.hex(),)
            ).fetchone()
            return None if row is None else _ticket(row)

        return await self.db.read(read)

    async def unpaid_reservations(self) -> list[Ticket]:
        def read(conn: sqlite3.Connection) -> list[Ticket]:
            rows = conn.execute(
                f"{_TICKET_SELECT} WHERE t.reserved_by IS NOT NULL AND t.paid_at IS NULL "
                "AND t.cancelled_at IS NULL ORDER BY t.id"
            ).fetchall()
            return [_ticket(r) for r in rows]

        return await self.db.read(read)

    async def store_registration(self, ticket_id: uuid.UUID, registration: Registration) -> None:
        def write(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE tickets SET registration_holder = ?, registration_public_key = ?, "
                "registration_auth_pubkey = ?, registration_envelope = ?, "
                "registration_epoch = ?, registered_at = ?, "
                "registration_forwarded_at = NULL, registration_error = NULL "
                "WHERE id = ? AND reserved_by = ? AND registration_forwarded_at IS NULL",
                (
                    registration.holder,
                    registration.public_key.hex(),
                    registration.auth_pubkey.hex(),
                    registration.envelope.hex(),
                    registration.enclave_key_epoch,
                    db_time(registration.registered_at),
                    str(ticket_id),
                    registration.holder,
                ),
            )
            if cursor.rowcount != 1:
                raise ConflictError("the ticket's registration can no longer be changed")

        await self.db.write(write)

    async def mark_registration_forwarded(
        self, ticket_id: uuid.UUID, at: dt.datetime | None, error: str | None
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tickets SET registration_forwarded_at = ?, registration_error = ? "
                "WHERE id = ?",
                (_time(at), None if error is None else error[:500], str(ticket_id)),
            )

        await self.db.write(write)

    # -- entries --------------------------------------------------------------------------

    async def insert_entry(self, entry: Entry) -> None:
        submission = {
            "id": str(entry.id),
            "event_id": str(entry.competition_id),
            "expected_observations": [
                p.model_dump(mode="json", exclude_none=True) for p in entry.picks
            ],
        }

        def write(conn: sqlite3.Connection) -> None:
            ticket = conn.execute(
                "SELECT reserved_by, paid_at, cancelled_at, entry_id FROM tickets "
                "WHERE id = ? AND event_id = ?",
                (str(entry.ticket_id), str(entry.competition_id)),
            ).fetchone()
            if ticket is None:
                raise NotFoundError(f"ticket {entry.ticket_id} not found in this competition")
            if ticket["reserved_by"] != entry.owner or ticket["cancelled_at"] is not None:
                raise ConflictError("the ticket is not reserved by you")
            if ticket["paid_at"] is None:
                raise ConflictError("the ticket has not been paid")
            if ticket["entry_id"] != str(entry.id):
                raise ConflictError("the entry id must be the one issued with the ticket")
            if conn.execute(
                "SELECT 1 FROM entries WHERE ticket_id = ? OR id = ?",
                (str(entry.ticket_id), str(entry.id)),
            ).fetchone():
                raise ConflictError("the ticket already has an entry")
            try:
                conn.execute(
                    "INSERT INTO entries (id, event_id, ticket_id, pubkey, ephemeral_pubkey, "
                    "ephemeral_privatekey_encrypted, payout_hash, payout_preimage_encrypted, "
                    "entry_submission, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        str(entry.id),
                        str(entry.competition_id),
                        str(entry.ticket_id),
                        entry.owner,
                        entry.ephemeral_pubkey.hex(),
                        entry.ephemeral_privatekey_encrypted,
                        entry.payout_hash.hex(),
                        entry.payout_preimage_encrypted,
                        _dumps(submission),
                        db_time(entry.created_at),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                text = str(exc)
                if "ticket_id" in text or "entries.id" in text:
                    raise ConflictError("the ticket already has an entry") from None
                if "ephemeral_pubkey" in text:
                    raise ConflictError("ephemeral_pubkey is used by another entry") from None
                if "payout_hash" in text:
                    raise ConflictError("payout_hash is used by another entry") from None
                raise ConflictError("the entry conflicts with another entry") from None

        await self.db.write(write)

    async def entries_of(self, competition_id: uuid.UUID) -> list[Entry]:
        def read(conn: sqlite3.Connection) -> list[Entry]:
            rows = conn.execute(
                f"{_ENTRY_SELECT} WHERE e.event_id = ? ORDER BY e.id", (str(competition_id),)
            ).fetchall()
            return [_entry(r) for r in rows]

        return await self.db.read(read)

    async def entry(self, entry_id: uuid.UUID) -> Entry | None:
        def read(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(f"{_ENTRY_SELECT} WHERE e.id = ?", (str(entry_id),)).fetchone()
            return None if row is None else _entry(row)

        return await self.db.read(read)

    async def entries_page(
        self,
        owner: str,
        limit: int,
        cursor: uuid.UUID | None = None,
        competition_id: uuid.UUID | None = None,
    ) -> Page:
        where, params = ["e.pubkey = ?"], [owner]
        if cursor is not None:
            where.append("e.id < ?")
            params.append(str(cursor))
        if competition_id is not None:
            where.append("e.event_id = ?")
            params.append(str(competition_id))
        query = f"{_ENTRY_SELECT} WHERE {' AND '.join(where)} ORDER BY e.id DESC LIMIT ?"
        params.append(str(limit + 1))

        def read(conn: sqlite3.Connection) -> Page:
            rows = conn.execute(query, params).fetchall()
            items = [_entry(r) for r in rows[:limit]]
            more = len(rows) > limit
            return Page(items, str(items[-1].id) if more and items else None)

        return await self.db.read(read)

    async def reveal_secrets(
        self, entry_id: uuid.UUID, sealed_private_key: str, sealed_payout_preimage: str
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE entries SET ephemeral_privatekey = ?, payout_preimage = ? WHERE id = ?",
                (sealed_private_key, sealed_payout_preimage, str(entry_id)),
            )

        await self.db.write(write)

    async def mark_entry_settled(
        self, entry_id: uuid.UUID, at: dt.datetime, *, reclaimed: bool
    ) -> None:
        column = "reclaimed_broadcasted_at" if reclaimed else "sellback_broadcasted_at"

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"UPDATE entries SET {column} = ? WHERE id = ? AND {column} IS NULL",
                (db_time(at), str(entry_id)),
            )

        await self.db.write(write)

    # -- payouts --------------------------------------------------------------------------

    async def insert_payout(self, payout: Payout) -> None:
        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO payouts (id, entry_id, payout_payment_request, payment_hash, "
                    "payout_amount_sats, initiated_at, cltv_limit, fee_limit_sats, "
                    "invoice_expires_at, min_final_cltv_expiry) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        str(payout.id),
                        str(payout.entry_id),
                        payout.payment_request,
                        payout.payment_hash.hex(),
                        payout.amount_sats,
                        db_time(payout.initiated_at),
                        payout.cltv_limit,
                        payout.fee_limit_sats,
                        db_time(payout.invoice_expires_at),
                        payout.min_final_cltv_expiry,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                if "payment_hash" in str(exc):
                    raise ConflictError("this invoice already pays another payout") from None
                raise ConflictError("the entry already has a payout in progress or paid") from None

        await self.db.write(write)

    async def _payouts(self, where: str, params: Sequence[Any]) -> list[Payout]:
        def read(conn: sqlite3.Connection) -> list[Payout]:
            rows = conn.execute(f"{_PAYOUT_SELECT} WHERE {where} ORDER BY p.id", params)
            return [_payout(r) for r in rows.fetchall()]

        return await self.db.read(read)

    async def payout(self, payout_id: uuid.UUID) -> Payout | None:
        found = await self._payouts("p.id = ?", (str(payout_id),))
        return found[0] if found else None

    async def payouts_of(self, competition_id: uuid.UUID) -> list[Payout]:
        return await self._payouts("e.event_id = ?", (str(competition_id),))

    async def payouts_of_entry(self, entry_id: uuid.UUID) -> list[Payout]:
        return await self._payouts("p.entry_id = ?", (str(entry_id),))

    async def pending_payouts(self) -> list[Payout]:
        return await self._payouts("p.succeed_at IS NULL AND p.failed_at IS NULL", ())

    async def all_payment_hashes(self) -> set[bytes]:
        def read(conn: sqlite3.Connection) -> set[bytes]:
            rows = conn.execute("SELECT DISTINCT payment_hash FROM payouts").fetchall()
            return {bytes.fromhex(r[0]) for r in rows}

        return await self.db.read(read)

    async def mark_payout_sent(
        self, payout_id: uuid.UUID, at: dt.datetime, cltv_limit: int
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE payouts SET send_attempts = send_attempts + 1, last_sent_at = ?, "
                "cltv_limit = ? WHERE id = ?",
                (db_time(at), cltv_limit, str(payout_id)),
            )

        await self.db.write(write)

    async def mark_payout_succeeded(
        self, payout_id: uuid.UUID, at: dt.datetime, preimage: bytes, fee_msat: int
    ) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE payouts SET succeed_at = ?, failed_at = NULL, error = NULL, "
                "payment_preimage = ?, fee_msat = ? WHERE id = ? AND succeed_at IS NULL",
                (db_time(at), preimage.hex(), fee_msat, str(payout_id)),
            )
            return cursor.rowcount == 1

        try:
            return await self.db.write(write)
        except sqlite3.IntegrityError:
            # Un-failing would give the entry two live payouts: the node paid both hashes.
            raise ConflictError(f"payout {payout_id} succeeded next to another live one") from None

    async def mark_payout_failed(self, payout_id: uuid.UUID, at: dt.datetime, error: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE payouts SET failed_at = ?, error = ? "
                "WHERE id = ? AND succeed_at IS NULL AND failed_at IS NULL",
                (db_time(at), error[:500], str(payout_id)),
            )
            return cursor.rowcount == 1

        return await self.db.write(write)

    # -- settlement transactions -----------------------------------------------------------

    async def insert_tx(self, tx: SettlementTx) -> SettlementTx:
        exclusive = {TxKind.CLOSE: TxKind.SPLIT, TxKind.SPLIT: TxKind.CLOSE}

        def write(conn: sqlite3.Connection) -> SettlementTx:
            cid = str(tx.competition_id)
            existing = conn.execute(
                "SELECT * FROM settlement_transactions "
                "WHERE competition_id = ? AND kind = ? AND player_index = ?",
                (cid, tx.kind.value, tx.player_index),
            ).fetchone()
            if existing is not None:
                return _tx(existing)
            other = exclusive.get(tx.kind)
            if (
                other is not None
                and conn.execute(
                    "SELECT 1 FROM settlement_transactions WHERE competition_id = ? AND kind = ?",
                    (cid, other.value),
                ).fetchone()
            ):
                raise ConflictError(f"a {other.value} transaction exists for {cid}")
            if tx.kind is TxKind.FUNDING:
                row = conn.execute(
                    "SELECT cancelled_at, failed_at FROM competitions WHERE id = ?", (cid,)
                ).fetchone()
                if row is None or row["cancelled_at"] or row["failed_at"]:
                    raise ConflictError(f"competition {cid} was cancelled or failed")
            conn.execute(
                "INSERT INTO settlement_transactions (competition_id, kind, player_index, txid, "
                "raw_hex, fee_sats, created_at, broadcast_at, confirmed_height, confirmed_at, "
                "observed) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    cid,
                    tx.kind.value,
                    tx.player_index,
                    tx.txid,
                    tx.raw_hex,
                    tx.fee_sats,
                    db_time(tx.created_at),
                    _time(tx.broadcast_at),
                    tx.confirmed_height,
                    _time(tx.confirmed_at),
                    int(tx.observed),
                ),
            )
            return tx

        return await self.db.write(write)

    async def record_observed_tx(self, tx: SettlementTx) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM settlement_transactions "
                "WHERE competition_id = ? AND kind = ? AND player_index = ?",
                (str(tx.competition_id), tx.kind.value, tx.player_index),
            )
            conn.execute(
                "INSERT INTO settlement_transactions (competition_id, kind, player_index, txid, "
                "raw_hex, fee_sats, created_at, broadcast_at, confirmed_height, confirmed_at, "
                "observed) VALUES (?,?,?,?,?,?,?,?,?,?,1)",
                (
                    str(tx.competition_id),
                    tx.kind.value,
                    tx.player_index,
                    tx.txid,
                    tx.raw_hex,
                    tx.fee_sats,
                    db_time(tx.created_at),
                    _time(tx.broadcast_at or tx.created_at),
                    tx.confirmed_height,
                    _time(tx.confirmed_at),
                ),
            )

        await self.db.write(write)

    async def txs_of(self, competition_id: uuid.UUID) -> list[SettlementTx]:
        def read(conn: sqlite3.Connection) -> list[SettlementTx]:
            rows = conn.execute(
                "SELECT * FROM settlement_transactions WHERE competition_id = ? "
                "ORDER BY created_at, kind, player_index",
                (str(competition_id),),
            ).fetchall()
            return [_tx(r) for r in rows]

        return await self.db.read(read)

    async def unconfirmed_txs(self) -> list[SettlementTx]:
        def read(conn: sqlite3.Connection) -> list[SettlementTx]:
            rows = conn.execute(
                "SELECT * FROM settlement_transactions WHERE confirmed_height IS NULL "
                "ORDER BY created_at"
            ).fetchall()
            return [_tx(r) for r in rows]

        return await self.db.read(read)

    async def mark_tx_broadcast(self, txid: str, at: dt.datetime) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE settlement_transactions SET broadcast_at = ? "
                "WHERE txid = ? AND broadcast_at IS NULL",
                (db_time(at), txid),
            )

        await self.db.write(write)

    async def mark_tx_confirmed(self, txid: str, height: int, at: dt.datetime) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE settlement_transactions SET confirmed_height = ?, confirmed_at = ?, "
                "broadcast_at = COALESCE(broadcast_at, ?) WHERE txid = ?",
                (height, db_time(at), db_time(at), txid),
            )

        await self.db.write(write)

    # -- owed winners ----------------------------------------------------------------------

    async def insert_owed(self, owed: OwedWinner) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO owed_winners (entry_id, competition_id, player_index, "
                "amount_sats, output_value_sats, owed_since, sweepable_at_height) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    str(owed.entry_id),
                    str(owed.competition_id),
                    owed.player_index,
                    owed.amount_sats,
                    owed.output_value_sats,
                    db_time(owed.owed_since),
                    owed.sweepable_at_height,
                ),
            )

        await self.db.write(write)

    async def _owed(self, where: str, params: Sequence[Any]) -> list[OwedWinner]:
        def read(conn: sqlite3.Connection) -> list[OwedWinner]:
            rows = conn.execute(
                f"SELECT * FROM owed_winners WHERE {where} ORDER BY owed_since, entry_id", params
            ).fetchall()
            return [_owed(r) for r in rows]

        return await self.db.read(read)

    async def owed_of(self, competition_id: uuid.UUID) -> list[OwedWinner]:
        return await self._owed("competition_id = ?", (str(competition_id),))

    async def owed_all(self, unresolved_only: bool = False) -> list[OwedWinner]:
        if unresolved_only:
            return await self._owed(
                "claimed_on_chain_at IS NULL AND swept_at IS NULL AND uneconomic_at IS NULL", ()
            )
        return await self._owed("1 = 1", ())

    async def owed(self, entry_id: uuid.UUID) -> OwedWinner | None:
        found = await self._owed("entry_id = ?", (str(entry_id),))
        return found[0] if found else None

    async def approve_sweep(self, entry_id: uuid.UUID, at: dt.datetime) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE owed_winners SET sweep_approved_at = ? "
                "WHERE entry_id = ? AND sweep_approved_at IS NULL",
                (db_time(at), str(entry_id)),
            )
            return cursor.rowcount == 1

        return await self.db.write(write)

    async def resolve_owed(
        self,
        entry_id: uuid.UUID,
        at: dt.datetime,
        *,
        claim_txid: str | None = None,
        swept: bool = False,
        uneconomic: bool = False,
    ) -> None:
        if claim_txid is not None:
            sql, params = (
                "claimed_on_chain_at = COALESCE(claimed_on_chain_at, ?), claim_txid = ?",
                [db_time(at), claim_txid],
            )
        elif swept:
            sql, params = "swept_at = COALESCE(swept_at, ?)", [db_time(at)]
        elif uneconomic:
            sql, params = "uneconomic_at = COALESCE(uneconomic_at, ?)", [db_time(at)]
        else:
            raise ValueError("say how the owed winner was resolved")

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"UPDATE owed_winners SET {sql} WHERE entry_id = ?", (*params, str(entry_id))
            )

        await self.db.write(write)

    # -- payout holds ----------------------------------------------------------------------

    async def insert_hold(self, hold: PayoutHold) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO payout_holds (entry_id, payment_hash, amount_sats, "
                "reason, held_at) VALUES (?,?,?,?,?)",
                (
                    str(hold.entry_id),
                    hold.payment_hash.hex(),
                    hold.amount_sats,
                    hold.reason[:500],
                    db_time(hold.held_at),
                ),
            )
            return cursor.rowcount == 1

        return await self.db.write(write)

    async def holds(self, active_only: bool = True) -> list[PayoutHold]:
        where = "released_at IS NULL" if active_only else "1 = 1"

        def read(conn: sqlite3.Connection) -> list[PayoutHold]:
            rows = conn.execute(f"SELECT * FROM payout_holds WHERE {where} ORDER BY held_at")
            return [_hold(r) for r in rows.fetchall()]

        return await self.db.read(read)

    async def release_hold(self, entry_id: uuid.UUID, at: dt.datetime) -> int:
        def write(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE payout_holds SET released_at = ? "
                "WHERE entry_id = ? AND released_at IS NULL",
                (db_time(at), str(entry_id)),
            )
            return cursor.rowcount

        return await self.db.write(write)


if TYPE_CHECKING:
    _implements_port: type[CompetitionStore] = SqliteCompetitionStore
