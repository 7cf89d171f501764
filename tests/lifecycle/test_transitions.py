"""The lifecycle table: derived states, guards, and the rules that protect funded money."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from coordinator.domain.competitions.errors import (
    ErrorKind,
    ErrorState,
    StepError,
    Verdict,
    backoff_secs,
    record_failure,
    record_success,
)
from coordinator.domain.competitions.states import (
    DERIVATION,
    FUNDED_STATES,
    Progress,
    Roster,
    State,
    derive_state,
)
from coordinator.domain.competitions.transitions import (
    TRANSITIONS,
    Action,
    Situation,
    describe,
    next_transition,
    rows_of,
)

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
DEADLINE = T0 + dt.timedelta(hours=1)
EMPTY = Roster(total_tickets=5, paid_entries=0, entries=0)
FULL = Roster(total_tickets=5, paid_entries=5, entries=5)


def progress(*milestones: str, at: dt.datetime = T0) -> Progress:
    return Progress(created_at=T0, **dict.fromkeys(milestones, at))


def situation(p: Progress, roster: Roster = FULL, now: dt.datetime = T0) -> Situation:
    return Situation(now=now, progress=p, roster=roster, entry_deadline=DEADLINE)


def test_roster_states() -> None:
    p = progress()
    assert derive_state(p, EMPTY) is State.CREATED
    assert derive_state(p, Roster(5, 1, 2)) is State.COLLECTING_ENTRIES
    assert derive_state(p, Roster(5, 4, 5)) is State.COLLECTING_ENTRIES  # not all paid
    assert derive_state(p, FULL) is State.ENTRIES_COLLECTED


def test_every_milestone_derives_its_state_in_lifecycle_order() -> None:
    reached: list[str] = []
    seen = []
    for name, _ in reversed(DERIVATION):
        if name in ("cancelled_at", "failed_at"):
            continue
        reached.append(name)
        seen.append(derive_state(progress(*reached), FULL))
    assert seen == [
        State.EVENT_CREATED,
        State.ENTRIES_SUBMITTED,
        State.CONTRACT_CREATED,
        State.AWAITING_SIGNATURES,
        State.SIGNING_COMPLETE,
        State.FUNDING_BROADCASTED,
        State.FUNDING_CONFIRMED,
        State.FUNDING_SETTLED,
        State.AWAITING_ATTESTATION,
        State.ATTESTED,
        State.EXPIRY_BROADCASTED,
        State.OUTCOME_BROADCASTED,
        State.DELTA_BROADCASTED,
        State.COMPLETED,
    ]


def test_terminal_timestamps_win_before_funding_only() -> None:
    assert derive_state(progress("contracted_at", "failed_at"), FULL) is State.FAILED
    assert derive_state(progress("failed_at", "cancelled_at"), FULL) is State.CANCELLED
    funded = progress("signed_at", "funding_broadcasted_at", "cancelled_at")
    assert derive_state(funded, FULL) is State.FUNDING_BROADCASTED


def test_no_row_leads_a_funded_competition_to_failed_or_cancelled() -> None:
    for row in TRANSITIONS:
        if row.state in FUNDED_STATES:
            assert not {State.FAILED, State.CANCELLED} & set(row.next_states), row


def test_every_non_terminal_state_has_a_row() -> None:
    for state in State:
        if state is State.COMPLETED:
            assert rows_of(state) == []
        else:
            assert rows_of(state), state


def test_unfilled_competition_is_cancelled_at_the_entry_deadline() -> None:
    before = situation(progress("keygen_opened_at"), EMPTY, now=DEADLINE - dt.timedelta(seconds=1))
    assert next_transition(State.CREATED, before) is None
    at = situation(progress("keygen_opened_at"), Roster(5, 2, 3), now=DEADLINE)
    row = next_transition(State.COLLECTING_ENTRIES, at)
    assert row is not None and row.action is Action.CANCEL_UNFILLED


def test_keygen_is_opened_first() -> None:
    row = next_transition(State.CREATED, situation(progress(), EMPTY))
    assert row is not None and row.action is Action.OPEN_KEYGEN


def test_signing_timeout_cancels_before_funding() -> None:
    started = progress("contracted_at")
    inside = situation(started, now=T0 + dt.timedelta(hours=2))
    row = next_transition(State.CONTRACT_CREATED, inside)
    assert row is not None and row.action is Action.AWAIT_KEYGEN
    late = situation(started, now=T0 + dt.timedelta(hours=2, seconds=1))
    for state in (State.CONTRACT_CREATED, State.AWAITING_SIGNATURES):
        row = next_transition(state, late)
        assert row is not None and row.action is Action.CANCEL_SIGNING_TIMEOUT


def test_invoices_are_settled_once_then_funding_is_confirmed() -> None:
    row = next_transition(State.FUNDING_BROADCASTED, situation(progress("funding_broadcasted_at")))
    assert row is not None and row.action is Action.SETTLE_INVOICES
    settled = progress("funding_broadcasted_at", "invoices_settled_at")
    row = next_transition(State.FUNDING_BROADCASTED, situation(settled))
    assert row is not None and row.action is Action.CONFIRM_FUNDING


def test_failed_releases_fees_at_once_and_is_cancelled_an_hour_later() -> None:
    failed = progress("failed_at")
    row = next_transition(State.FAILED, situation(failed, now=T0 + dt.timedelta(minutes=1)))
    assert row is not None and row.action is Action.RELEASE_INVOICES
    released = progress("failed_at", "invoices_released_at")
    assert (
        next_transition(State.FAILED, situation(released, now=T0 + dt.timedelta(minutes=59)))
        is None
    )
    row = next_transition(State.FAILED, situation(released, now=T0 + dt.timedelta(hours=1)))
    assert row is not None and row.action is Action.CANCEL_FAILED
    assert (
        next_transition(
            State.CANCELLED, situation(progress("cancelled_at", "invoices_released_at"))
        )
        is None
    )


def test_expiry_goes_through_to_completed() -> None:
    row = next_transition(State.EXPIRY_BROADCASTED, situation(progress("expiry_broadcasted_at")))
    assert row is not None and row.next_states == (State.OUTCOME_BROADCASTED,)


def test_table_is_readable() -> None:
    text = describe()
    assert "awaiting_attestation | always | check_attestation | attested/expiry_broadcasted" in text
    assert len(text.splitlines()) == len(TRANSITIONS) + 1


def error(kind: ErrorKind, message: str = "boom", at: dt.datetime = T0) -> StepError:
    return StepError("create_oracle_event", kind, message, at)


def test_transient_errors_never_fail_a_competition() -> None:
    errors = ErrorState()
    for i in range(50):
        decision = record_failure(
            errors, State.ENTRIES_COLLECTED, error(ErrorKind.TRANSIENT, str(i)), 5
        )
        assert decision.verdict is Verdict.RETRY
        errors = decision.errors
    assert errors.permanent_errors == 0 and errors.consecutive_failures == 50


def test_more_than_five_permanent_errors_fail_before_funding() -> None:
    errors = ErrorState()
    verdicts = []
    for i in range(6):
        decision = record_failure(
            errors, State.EVENT_CREATED, error(ErrorKind.PERMANENT, str(i)), 5
        )
        verdicts.append(decision.verdict)
        errors = decision.errors
    assert verdicts == [Verdict.RETRY] * 5 + [Verdict.FAIL]


def test_funded_competitions_alert_and_retry_forever() -> None:
    errors = ErrorState()
    for i in range(20):
        decision = record_failure(
            errors, State.AWAITING_ATTESTATION, error(ErrorKind.PERMANENT, str(i)), 5
        )
        assert decision.verdict is Verdict.ALERT
        errors = decision.errors
    decision = record_failure(errors, State.OUTCOME_BROADCASTED, error(ErrorKind.TRANSIENT), 5)
    assert decision.verdict is Verdict.RETRY


def test_backoff_doubles_up_to_five_minutes_and_success_resets() -> None:
    assert [backoff_secs(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff_secs(100) == 300
    errors = ErrorState()
    for _ in range(3):
        errors = record_failure(errors, State.EVENT_CREATED, error(ErrorKind.PERMANENT), 5).errors
    assert len(errors.errors) == 1  # repeats of one error are folded
    assert errors.retry_at == T0 + dt.timedelta(seconds=20)
    reset = record_success(errors)
    assert (reset.consecutive_failures, reset.permanent_errors, reset.retry_at) == (0, 0, None)
    assert reset.errors == errors.errors


def test_error_log_is_bounded() -> None:
    errors = ErrorState()
    for i in range(100):
        errors = record_failure(
            errors, State.EVENT_CREATED, error(ErrorKind.TRANSIENT, str(i) + "x" * 1000), 5
        ).errors
    assert len(errors.errors) == 20
    assert all(len(e.message) <= 500 for e in errors.errors)


@pytest.mark.parametrize("state", sorted(FUNDED_STATES))
def test_funded_states_are_flagged(state: State) -> None:
    assert state.is_funded


def test_history_is_ordered() -> None:
    p = dataclasses.replace(
        progress(),
        event_created_at=T0 + dt.timedelta(seconds=2),
        keygen_opened_at=T0 + dt.timedelta(seconds=1),
    )
    assert [name for name, _ in p.history()] == [
        "created_at",
        "keygen_opened_at",
        "event_created_at",
    ]
