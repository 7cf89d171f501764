"""Process-wide counters the metrics listener exports (``coordinator_<name>{labels}``).

Counters only grow; a label set is a tuple of ``(name, value)`` pairs. :func:`snapshot` gives
every counter with its help text, for an exporter in any format.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


@dataclass
class Counter:
    """A monotonically increasing count, per label set."""

    name: str
    help: str
    values: dict[Labels, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inc(self, amount: int = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self.values[key] = self.values.get(key, 0) + amount

    def value(self, **labels: str) -> int:
        return self.values.get(tuple(sorted(labels.items())), 0)


@dataclass
class Timer:
    """Durations of a repeated step: how many, their total and the last one, in seconds."""

    name: str
    help: str
    count: int = 0
    total_secs: float = 0.0
    last_secs: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextlib.contextmanager
    def time(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.count += 1
                self.total_secs += elapsed
                self.last_secs = elapsed


_REGISTRY: dict[str, Counter] = {}
_TIMERS: dict[str, Timer] = {}


def counter(name: str, help_text: str) -> Counter:
    """The counter called ``name`` (created on first use)."""
    found = _REGISTRY.get(name)
    if found is None:
        found = _REGISTRY[name] = Counter(name, help_text)
    return found


def timer(name: str, help_text: str) -> Timer:
    """The timer called ``name`` (created on first use)."""
    found = _TIMERS.get(name)
    if found is None:
        found = _TIMERS[name] = Timer(name, help_text)
    return found


def snapshot() -> Mapping[str, Counter]:
    """Every registered counter."""
    return dict(_REGISTRY)


def timers() -> Mapping[str, Timer]:
    """Every registered timer."""
    return dict(_TIMERS)


#: A lifecycle step failed in a funded competition and will be retried: an operator should look.
SETTLEMENT_ALERTS = counter(
    "settlement_alerts_total",
    "Permanent errors of settlement steps of funded competitions (retried), by action",
)
#: Every failed lifecycle step, by action and kind (transient or permanent).
STEP_FAILURES = counter("lifecycle_step_failures_total", "Failed lifecycle steps")
#: Competitions that reached a terminal or failed state, by state.
COMPETITIONS_ENDED = counter(
    "competitions_ended_total", "Competitions completed, failed, cancelled"
)
#: Lightning payouts by final status.
PAYOUTS = counter("payouts_total", "Lightning payouts by final status")
#: Entry fees that could not be settled (an invoice cancelled by the node before funding).
LOST_ENTRY_FEES = counter("lost_entry_fees_total", "Held entry fees the node released early")
#: One processor tick (starting the runners of the active competitions).
PROCESSOR_TICK = timer("processor_tick_seconds", "Duration of processor ticks")
