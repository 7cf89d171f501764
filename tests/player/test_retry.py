"""Retrying a coordinator call while it answers 503, and only then."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from coordinator.player.api import ApiError, retry_while_unavailable


def answers(*outcomes: int | str) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    """An action answering each outcome in turn: an int is an HTTP error status."""
    calls: list[int] = []

    async def action() -> str:
        outcome = outcomes[len(calls)]
        calls.append(1)
        if isinstance(outcome, int):
            raise ApiError(outcome, "refused")
        return outcome

    return calls, action


async def test_503_is_retried_until_the_answer() -> None:
    calls, action = answers(503, 503, "ok")
    assert await retry_while_unavailable(action, pause_secs=0) == "ok"
    assert len(calls) == 3


async def test_other_errors_and_the_last_503_are_raised() -> None:
    calls, action = answers(409)
    with pytest.raises(ApiError) as refused:
        await retry_while_unavailable(action, pause_secs=0)
    assert refused.value.status == 409 and len(calls) == 1
    calls, action = answers(503, 503, 503, "never")
    with pytest.raises(ApiError) as unavailable:
        await retry_while_unavailable(action, attempts=3, pause_secs=0)
    assert unavailable.value.status == 503 and len(calls) == 3
