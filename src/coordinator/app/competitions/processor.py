"""The processor: drives every active competition through the transition table.

Each tick starts one runner per active competition that has none; a runner loads the
competition, picks the table row for its state (:func:`next_transition`) and runs that row's
action, again and again while actions complete (immediate states are chained within a tick),
until one has to wait. A failed action is classified by the error policy
(:mod:`coordinator.domain.competitions.errors`): retried with backoff, counted, failed (before
funding only) or alerted (funded). Runners of different competitions run concurrently; one
competition's steps never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from coordinator.app import metrics
from coordinator.app.competitions import kickoff, settlement
from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.contracts import ContractCache
from coordinator.domain.competitions.errors import (
    ErrorKind,
    StepError,
    Verdict,
    record_failure,
)
from coordinator.domain.competitions.records import Competition
from coordinator.domain.competitions.transitions import Action, Situation, next_transition
from coordinator_core.errors import TransientError

log = logging.getLogger(__name__)

MAX_CHAINED_STEPS: Final = 16

Step = Callable[[Lifecycle, Competition, ContractCache], Awaitable[bool]]


def _plain(step: Callable[[Lifecycle, Competition], Awaitable[bool]]) -> Step:
    async def run(lc: Lifecycle, c: Competition, _: ContractCache) -> bool:
        return await step(lc, c)

    run.__name__ = step.__name__
    return run


#: The action of every table row.
ACTIONS: Final[dict[Action, Step]] = {
    Action.OPEN_KEYGEN: _plain(kickoff.open_keygen),
    Action.CANCEL_UNFILLED: _plain(kickoff.cancel_unfilled),
    Action.CREATE_ORACLE_EVENT: _plain(kickoff.create_oracle_event),
    Action.SUBMIT_ENTRIES: _plain(kickoff.submit_entries),
    Action.BUILD_CONTRACT: _plain(kickoff.build_contract),
    Action.AWAIT_KEYGEN: kickoff.await_keygen,
    Action.CANCEL_SIGNING_TIMEOUT: _plain(kickoff.cancel_signing_timeout),
    Action.SIGN_CONTRACT: kickoff.sign_contract,
    Action.BROADCAST_FUNDING: _plain(kickoff.broadcast_funding),
    Action.SETTLE_INVOICES: _plain(kickoff.settle_invoices),
    Action.CONFIRM_FUNDING: _plain(kickoff.confirm_funding),
    Action.MARK_FUNDING_SETTLED: _plain(kickoff.mark_funding_settled),
    Action.MARK_AWAITING_ATTESTATION: _plain(kickoff.mark_awaiting_attestation),
    Action.CHECK_ATTESTATION: settlement.check_attestation,
    Action.BROADCAST_OUTCOME: settlement.broadcast_outcome,
    Action.RECORD_EXPIRY_OUTCOME: settlement.record_expiry_outcome,
    Action.CLOSE_OR_SPLIT: settlement.close_or_split_step,
    Action.FINISH_SETTLEMENT: settlement.finish_settlement,
    Action.CANCEL_FAILED: _plain(kickoff.cancel_failed),
    Action.RELEASE_INVOICES: _plain(kickoff.release_invoices),
}


class Processor:
    """Runs the lifecycle of every active competition."""

    def __init__(self, lc: Lifecycle, cache: ContractCache | None = None) -> None:
        self.lc = lc
        self.cache = cache or ContractCache()
        self._runners: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Run a tick now (a competition changed: created, entry added, ticket paid …)."""
        self._wake.set()

    async def run(self, interval_secs: float) -> None:
        """Tick every ``interval_secs`` (or when woken) forever."""
        while True:
            try:
                with metrics.PROCESSOR_TICK.time():
                    await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("processor tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval_secs)
            self._wake.clear()

    async def tick(self) -> None:
        """Start a runner for every active competition without one."""
        for competition_id in await self.lc.store.active_ids():
            running = self._runners.get(competition_id)
            if running is not None and not running.done():
                continue
            self._runners[competition_id] = asyncio.create_task(
                self.advance(competition_id), name=f"competition-{competition_id}"
            )
        for competition_id, task in list(self._runners.items()):
            if task.done():
                del self._runners[competition_id]

    async def settle(self) -> None:
        """Wait for the runners started so far (tests and shutdown)."""
        tasks = [t for t in self._runners.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def advance(self, competition_id: uuid.UUID) -> None:
        """Run the competition's actions until one has to wait (or fails), then look after its
        unconfirmed settlement transactions' fees."""
        lc = self.lc
        async with lc.lock(competition_id):
            await self._run_actions(competition_id)
            if lc.fee_bumper is not None:
                await lc.fee_bumper.watch(competition_id)

    async def _run_actions(self, competition_id: uuid.UUID) -> None:
        lc = self.lc
        for _ in range(MAX_CHAINED_STEPS):
            c = await lc.store.load(competition_id)
            if c is None:
                return
            now = lc.clock()
            if c.errors.retry_at is not None and now < c.errors.retry_at:
                return
            situation = Situation(
                now, c.progress, c.roster, c.terms.start_observation_date, lc.timeouts
            )
            row = next_transition(c.state, situation)
            if row is None:
                return
            try:
                done = await ACTIONS[row.action](lc, c, self.cache)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is classified, none stops the loop
                await self._failed(c, row.action, exc)
                return
            if not done:
                return
            log.debug("competition %s: %s done", c.id, row.action)

    async def _failed(self, c: Competition, action: Action, exc: Exception) -> None:
        lc = self.lc
        kind = ErrorKind.TRANSIENT if isinstance(exc, TransientError) else ErrorKind.PERMANENT
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        error = StepError(action.value, kind, str(message), lc.clock())
        decision = record_failure(
            c.errors, c.state, error, lc.settings.competitions.max_permanent_errors
        )
        metrics.STEP_FAILURES.inc(action=action.value, kind=kind.value)
        if not hasattr(exc, "message"):
            log.error("competition %s: %s crashed", c.id, action.value, exc_info=exc)
        if decision.verdict is Verdict.FAIL and await lc.store.fail(
            c.id, lc.clock(), decision.errors
        ):
            log.error("competition %s failed after %s: %s", c.id, action.value, message)
            metrics.COMPETITIONS_ENDED.inc(state="failed")
            self.cache.forget(c.id)
            return
        await lc.store.record_errors(c.id, decision.errors)
        if decision.verdict is Verdict.ALERT:
            metrics.SETTLEMENT_ALERTS.inc(action=action.value)
            log.error(
                "ALERT competition %s (%s): %s keeps failing: %s; retrying",
                c.id,
                c.state,
                action.value,
                message,
            )
        else:
            log.warning("competition %s: %s failed (%s): %s", c.id, action.value, kind, message)
