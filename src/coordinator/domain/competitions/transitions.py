"""The competition lifecycle as one table: state, condition, action, next state.

The processor loads a competition, derives its state (:mod:`.states`), and runs the action of
the first row of that state whose *guard* holds. Guards are pure checks of the clock and the
persisted record (deadlines, timeouts, "already done"); an action is the application's side
effect (oracle, Lightning, chain, signer), which completes only when its *condition* holds in
the world and persists its result before reporting progress. An action that completes moves the
competition to ``next_state``; the processor then looks again at once, so immediate states are
chained within one tick, while an action whose condition does not hold yet waits for the next.

Two rules shape the table:

- before funding, a competition can fail (too many permanent errors) or be cancelled (unfilled
  by its entry deadline, signing timeout, an operator, failed for an hour); every cancellation
  releases the held entry fees at once;
- from ``funding_broadcasted`` on, money sits in a contract: no row leads to ``failed`` or
  ``cancelled``; settlement actions retry until they succeed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from coordinator.domain.competitions.states import Progress, Roster, State


class Action(StrEnum):
    """What the application does in a state; each is idempotent and resumable."""

    OPEN_KEYGEN = "open_keygen"
    CANCEL_UNFILLED = "cancel_unfilled"
    CREATE_ORACLE_EVENT = "create_oracle_event"
    SUBMIT_ENTRIES = "submit_entries"
    BUILD_CONTRACT = "build_contract"
    AWAIT_KEYGEN = "await_keygen"
    CANCEL_SIGNING_TIMEOUT = "cancel_signing_timeout"
    SIGN_CONTRACT = "sign_contract"
    BROADCAST_FUNDING = "broadcast_funding"
    SETTLE_INVOICES = "settle_invoices"
    CONFIRM_FUNDING = "confirm_funding"
    MARK_FUNDING_SETTLED = "mark_funding_settled"
    MARK_AWAITING_ATTESTATION = "mark_awaiting_attestation"
    CHECK_ATTESTATION = "check_attestation"
    BROADCAST_OUTCOME = "broadcast_outcome"
    RECORD_EXPIRY_OUTCOME = "record_expiry_outcome"
    CLOSE_OR_SPLIT = "close_or_split"
    FINISH_SETTLEMENT = "finish_settlement"
    CANCEL_FAILED = "cancel_failed"
    RELEASE_INVOICES = "release_invoices"


@dataclass(frozen=True)
class Timeouts:
    """The lifecycle's clocks (seconds)."""

    signing_timeout_secs: float = 2 * 3600  # contract built → signed, else cancelled
    failed_cancel_after_secs: float = 3600  # failed → cancelled


@dataclass(frozen=True)
class Situation:
    """What the guards may look at: the clock, the record and the competition's deadline."""

    now: dt.datetime
    progress: Progress
    roster: Roster
    entry_deadline: dt.datetime  # start_observation_date: entries close
    timeouts: Timeouts = Timeouts()


Guard = Callable[[Situation], bool]


def always(_: Situation) -> bool:
    return True


def keygen_not_opened(s: Situation) -> bool:
    return s.progress.keygen_opened_at is None


def entry_deadline_passed(s: Situation) -> bool:
    return s.now >= s.entry_deadline


def signing_timed_out(s: Situation) -> bool:
    started = s.progress.contracted_at
    return started is not None and (s.now - started).total_seconds() > (
        s.timeouts.signing_timeout_secs
    )


def invoices_not_settled(s: Situation) -> bool:
    return s.progress.invoices_settled_at is None


def failed_long_enough(s: Situation) -> bool:
    failed = s.progress.failed_at
    return failed is not None and (s.now - failed).total_seconds() >= (
        s.timeouts.failed_cancel_after_secs
    )


def invoices_not_released(s: Situation) -> bool:
    return s.progress.invoices_released_at is None


@dataclass(frozen=True)
class Transition:
    """One row: in ``state``, when ``guard`` holds, run ``action``; it completes once
    ``condition`` holds in the world and leads to one of ``next_states``."""

    state: State
    guard: Guard
    action: Action
    next_states: tuple[State, ...]
    condition: str

    @property
    def guard_name(self) -> str:
        return self.guard.__name__


S = State
A = Action

#: The lifecycle. Rows of one state are tried in order; the first whose guard holds runs.
TRANSITIONS: Final[tuple[Transition, ...]] = (
    # -- collecting entries ------------------------------------------------------------------
    Transition(S.CREATED, entry_deadline_passed, A.CANCEL_UNFILLED, (S.CANCELLED,),
               "entries closed before every ticket had a paid entry"),
    Transition(S.CREATED, keygen_not_opened, A.OPEN_KEYGEN, (S.CREATED,),
               "the signing service opened the key-generation session"),
    Transition(S.COLLECTING_ENTRIES, entry_deadline_passed, A.CANCEL_UNFILLED, (S.CANCELLED,),
               "entries closed before every ticket had a paid entry"),
    # -- kickoff -----------------------------------------------------------------------------
    Transition(S.ENTRIES_COLLECTED, always, A.CREATE_ORACLE_EVENT, (S.EVENT_CREATED,),
               "the oracle announced the event (one locking point per outcome)"),
    Transition(S.EVENT_CREATED, always, A.SUBMIT_ENTRIES, (S.ENTRIES_SUBMITTED,),
               "the oracle holds every entry, in entry-id order"),
    Transition(S.ENTRIES_SUBMITTED, always, A.BUILD_CONTRACT, (S.CONTRACT_CREATED,),
               "contract parameters built and the funding PSBT's coins locked"),
    Transition(S.CONTRACT_CREATED, signing_timed_out, A.CANCEL_SIGNING_TIMEOUT, (S.CANCELLED,),
               "signing did not finish in time"),
    Transition(S.CONTRACT_CREATED, always, A.AWAIT_KEYGEN, (S.AWAITING_SIGNATURES,),
               "keygen completed with a roster equal to the accepted entries"),
    Transition(S.AWAITING_SIGNATURES, signing_timed_out, A.CANCEL_SIGNING_TIMEOUT,
               (S.CANCELLED,), "signing did not finish in time"),
    Transition(S.AWAITING_SIGNATURES, always, A.SIGN_CONTRACT, (S.SIGNING_COMPLETE,),
               "every outcome and split signed, the whole set verified"),
    Transition(S.SIGNING_COMPLETE, always, A.BROADCAST_FUNDING, (S.FUNDING_BROADCASTED,),
               "the signed funding transaction was accepted by the chain source"),
    # -- funded: never failed or cancelled from here on ---------------------------------------
    Transition(S.FUNDING_BROADCASTED, invoices_not_settled, A.SETTLE_INVOICES,
               (S.FUNDING_BROADCASTED,), "every hold invoice settled with its ticket preimage"),
    Transition(S.FUNDING_BROADCASTED, always, A.CONFIRM_FUNDING, (S.FUNDING_CONFIRMED,),
               "the funding transaction has the required confirmations"),
    Transition(S.FUNDING_CONFIRMED, always, A.MARK_FUNDING_SETTLED, (S.FUNDING_SETTLED,),
               "entry fees are settled and the contract is funded"),
    Transition(S.FUNDING_SETTLED, always, A.MARK_AWAITING_ATTESTATION,
               (S.AWAITING_ATTESTATION,), "waiting for the oracle from now on"),
    Transition(S.AWAITING_ATTESTATION, always, A.CHECK_ATTESTATION,
               (S.ATTESTED, S.EXPIRY_BROADCASTED),
               "a verified attestation, or the event expired with none (expiry tx sent)"),
    Transition(S.ATTESTED, always, A.BROADCAST_OUTCOME, (S.OUTCOME_BROADCASTED,),
               "the attested outcome's transaction was broadcast"),
    Transition(S.EXPIRY_BROADCASTED, always, A.RECORD_EXPIRY_OUTCOME, (S.OUTCOME_BROADCASTED,),
               "the expiry transaction is the outcome transaction (equal shares)"),
    Transition(S.OUTCOME_BROADCASTED, always, A.CLOSE_OR_SPLIT, (S.DELTA_BROADCASTED,),
               "every winner paid: cooperative close; else window closed: split tx"),
    Transition(S.DELTA_BROADCASTED, always, A.FINISH_SETTLEMENT, (S.COMPLETED,),
               "every winner output closed, swept, claimed or uneconomic, and confirmed"),
    # -- failure and cancellation (before funding only) --------------------------------------
    Transition(S.FAILED, invoices_not_released, A.RELEASE_INVOICES, (S.FAILED,),
               "every held entry fee returned (invoices cancelled)"),
    Transition(S.FAILED, failed_long_enough, A.CANCEL_FAILED, (S.CANCELLED,),
               "failed an hour ago"),
    Transition(S.CANCELLED, invoices_not_released, A.RELEASE_INVOICES, (S.CANCELLED,),
               "every held entry fee returned (invoices cancelled)"),
)  # fmt: skip


def next_transition(state: State, situation: Situation) -> Transition | None:
    """The row to run now, or ``None`` if nothing is to be done in ``state``."""
    for row in TRANSITIONS:
        if row.state is state and row.guard(situation):
            return row
    return None


def rows_of(state: State) -> list[Transition]:
    """Every row of ``state``, in order."""
    return [row for row in TRANSITIONS if row.state is state]


def describe() -> str:
    """The table as text (state | guard | action | next | condition), for docs and admins."""
    lines = ["state | when | action | next | completes when"]
    for row in TRANSITIONS:
        nexts = "/".join(s.value for s in row.next_states)
        cells = (row.state.value, row.guard_name, row.action.value, nexts, row.condition)
        lines.append(" | ".join(cells))
    return "\n".join(lines)
