"""The devnet oracle's event expiry delay is configurable (so the expiry path runs in minutes)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from coordinator_core.ids import uuid7
from coordinator_core.oracle_api import CreateEvent
from devnet.oracle.keys import OracleKeys
from devnet.oracle.service import EXPIRY_DELAY, OracleService
from devnet.oracle.store import OracleStore
from ticketdlc.crypto.secp import Point

SIGNER = Point.from_secret(7).xonly().hex()


def event(signing: dt.datetime) -> CreateEvent:
    return CreateEvent(
        id=uuid7(),
        signing_date=signing,
        start_observation_date=signing - dt.timedelta(hours=2),
        end_observation_date=signing - dt.timedelta(hours=1),
        locations=["KORD"],
        number_of_values_per_entry=1,
        total_allowed_entries=3,
        number_of_places_win=1,
    )


@pytest.mark.parametrize("delay", [dt.timedelta(seconds=90), EXPIRY_DELAY])
def test_expiry_is_signing_date_plus_the_delay(tmp_path: Path, delay: dt.timedelta) -> None:
    store = OracleStore(tmp_path / "oracle.sqlite")
    service = OracleService(store, OracleKeys.from_seed("22" * 32), expiry_delay=delay)
    signing = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)
    created = service.create_event(event(signing), SIGNER)
    assert created.event_announcement.expiry == int(signing.timestamp() + delay.total_seconds())
    store.close()


def test_negative_delay_is_refused(tmp_path: Path) -> None:
    store = OracleStore(tmp_path / "oracle.sqlite")
    with pytest.raises(ValueError, match="expiry delay"):
        OracleService(store, OracleKeys.from_seed("22" * 32), expiry_delay=dt.timedelta(-1))
    store.close()
