"""A crash the crash suite found, as a focused test: dying right after the funding PSBT was
built (coins locked), before it was recorded (``after_build:funding_psbt``). Start-up
reconciliation unlocks coins no recorded funding PSBT spends, so the rebuilt contract is funded.
"""

from __future__ import annotations

import pytest

from tests.e2e.scenario import RANKED_PICKS, Scenario

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.crash, pytest.mark.timeout(900)]


async def test_crash_after_building_the_funding_psbt(scenario: Scenario) -> None:
    s = scenario
    s.patient = True
    run = await s.create(2, 1)
    sup = s.stack.coordinator.supervise(["after_build:funding_psbt"])
    try:
        for i in range(2):
            await s.enter(run, f"b{i}", RANKED_PICKS[i])

        async def funded_or_refused() -> bool:
            competition = await s.competition(run)
            if competition["funding_broadcasted_at"] is not None:
                return True
            if competition["errors"] and sup.reached:
                raise AssertionError(f"the funding build failed: {competition['errors']}")
            return False

        await s.until(funded_or_refused, within=300)
    finally:
        sup.stop()
    assert sup.reached == ["after_build:funding_psbt"]
