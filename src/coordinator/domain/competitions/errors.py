"""What a failed lifecycle step means: retry later, count it, fail, or alert.

- **Transient** errors (a service down, a timeout, a 503) are retried with backoff and never
  counted: a competition does not fail because the oracle was deploying.
- **Permanent** errors (a refusal, an invalid answer) are counted. Before funding, more than
  ``max_permanent_errors`` in a row fail the competition (which releases the entry fees).
- From the funding broadcast on, nothing fails a competition: every error is retried with
  backoff, and permanent ones raise an alert (log and metric) for an operator.

The error log keeps the last :data:`KEPT_ERRORS` errors; a step that succeeds resets the count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from coordinator.domain.competitions.states import State

KEPT_ERRORS: Final = 20
MAX_MESSAGE_CHARS: Final = 500
BACKOFF_BASE_SECS: Final = 5.0
BACKOFF_MAX_SECS: Final = 300.0


class ErrorKind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class StepError:
    """One failed attempt of an action."""

    action: str
    kind: ErrorKind
    message: str
    at: dt.datetime

    def to_json(self) -> dict[str, str]:
        return {
            "action": self.action,
            "kind": self.kind.value,
            "message": self.message,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> StepError:
        return cls(
            str(value["action"]),
            ErrorKind(value["kind"]),
            str(value["message"]),
            dt.datetime.fromisoformat(str(value["at"])),
        )


@dataclass(frozen=True)
class ErrorState:
    """The error bookkeeping of one competition."""

    errors: tuple[StepError, ...] = ()
    consecutive_failures: int = 0  # any kind, since the last success (drives backoff)
    permanent_errors: int = 0  # permanent, since the last success (drives failing)
    retry_at: dt.datetime | None = None


class Verdict(StrEnum):
    RETRY = "retry"  # try again at ``retry_at``
    FAIL = "fail"  # before funding: mark failed and release the entry fees
    ALERT = "alert"  # funded: retry at ``retry_at`` and tell an operator


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    errors: ErrorState


def backoff_secs(consecutive_failures: int) -> float:
    """5 s, doubling per consecutive failure, at most 5 minutes."""
    exponent = min(max(consecutive_failures - 1, 0), 16)
    return float(min(BACKOFF_BASE_SECS * 2**exponent, BACKOFF_MAX_SECS))


def record_failure(
    current: ErrorState,
    state: State,
    error: StepError,
    max_permanent_errors: int,
) -> Decision:
    """The verdict on ``error`` in ``state``, and the error state to persist."""
    message = error.message[:MAX_MESSAGE_CHARS]
    error = replace(error, message=message)
    failures = current.consecutive_failures + 1
    permanent = current.permanent_errors + (1 if error.kind is ErrorKind.PERMANENT else 0)
    last = current.errors[-1] if current.errors else None
    repeated = (
        last is not None
        and last.action == error.action
        and last.kind == error.kind
        and last.message == error.message
    )
    # A repeat of the last error only moves its time, so a long outage does not flood the log.
    kept = (*current.errors[:-1], error) if repeated else (*current.errors, error)
    retry_at = error.at + dt.timedelta(seconds=backoff_secs(failures))
    updated = ErrorState(kept[-KEPT_ERRORS:], failures, permanent, retry_at)
    if state.is_funded:
        verdict = Verdict.ALERT if error.kind is ErrorKind.PERMANENT else Verdict.RETRY
    elif permanent > max_permanent_errors:
        verdict = Verdict.FAIL
    else:
        verdict = Verdict.RETRY
    return Decision(verdict, updated)


def record_success(current: ErrorState) -> ErrorState:
    """A step succeeded: counters reset, the log is kept for the record."""
    return ErrorState(current.errors, 0, 0, None)
