"""The oracle wire formats (``coordinator_core.oracle_api``) against their JSON shapes: valid
documents round-trip; mutated ones are refused with pydantic's ``ValidationError`` (what the
client and the devnet oracle turn into a 400 / a permanent error) and nothing else."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from coordinator_core.observations import Comparison, Metric, StationPicks
from coordinator_core.oracle_api import (
    MAX_VALUES_PER_ENTRY,
    AddEventEntries,
    AddEventEntry,
    CreateEvent,
    Event,
    EventAnnouncement,
    EventStatus,
    EventSummary,
    Forecasted,
    Observed,
    Weather,
    WeatherEntry,
)
from tests.fuzz.budget import examples
from tests.fuzz.mutations import mutated_json, mutated_text

int64 = st.integers(-(2**63), 2**63 - 1)
index64 = st.integers(0, 2**63 - 1)
stations = st.from_regex(r"[A-Z0-9]{3,8}", fullmatch=True)
times = st.datetimes(
    min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2105, 1, 1), timezones=st.just(dt.UTC)
)
hex32 = st.binary(min_size=32, max_size=32).map(bytes.hex)
points = st.tuples(st.sampled_from(["02", "03"]), hex32).map("".join)
picks = st.builds(
    StationPicks,
    stations=stations,
    **{metric.value: st.none() | st.sampled_from(Comparison) for metric in Metric},
)
entries = st.builds(
    WeatherEntry,
    id=st.uuids(),
    event_id=st.uuids(),
    expected_observations=st.lists(picks, max_size=3),
    score=st.none() | int64,
    base_score=st.none() | int64,
)
weather = st.builds(
    Weather,
    station_id=stations,
    observed=st.none() | st.builds(Observed, date=times, temp_low=int64, temp_high=int64,
                                   wind_speed=int64),
    forecasted=st.builds(Forecasted, date=times, temp_low=int64, temp_high=int64,
                         wind_speed=st.none() | int64),
)  # fmt: skip
event_fields: dict[str, Any] = {
    "id": st.uuids(),
    "signing_date": times,
    "start_observation_date": times,
    "end_observation_date": times,
    "locations": st.lists(stations, max_size=4),
    "number_of_values_per_entry": index64,
    "status": st.sampled_from(EventStatus),
    "total_allowed_entries": index64,
    "number_of_places_win": int64,
    "weather": st.lists(weather, max_size=2),
    "attestation": st.none() | hex32,
    "nonce_point": st.none() | points,
}
MODELS: dict[type[BaseModel], st.SearchStrategy[Any]] = {
    CreateEvent: st.builds(
        CreateEvent,
        id=st.uuids(),
        signing_date=times,
        start_observation_date=times,
        end_observation_date=times,
        locations=st.lists(stations, max_size=4),
        number_of_values_per_entry=st.integers(0, MAX_VALUES_PER_ENTRY),
        total_allowed_entries=index64,
        number_of_places_win=int64,
        scoring_fields=st.none() | st.lists(st.sampled_from(Metric), max_size=3),
    ),
    AddEventEntries: st.builds(
        AddEventEntries,
        event_id=st.uuids(),
        entries=st.lists(
            st.builds(
                AddEventEntry,
                id=st.uuids(),
                event_id=st.uuids(),
                expected_observations=st.lists(picks, max_size=3),
            ),
            max_size=3,
        ),
    ),
    WeatherEntry: entries,
    Event: st.builds(
        Event,
        **event_fields,
        entry_ids=st.lists(st.uuids(), max_size=3),
        entries=st.lists(entries, max_size=2),
        event_announcement=st.builds(
            EventAnnouncement,
            locking_points=st.lists(points, max_size=3),
            expiry=st.none() | st.integers(0, 2**32 - 1),
        ),
        coordinator_pubkey=st.text(max_size=70),
        scoring_fields=st.lists(st.sampled_from(Metric), max_size=3),
    ),
    EventSummary: st.builds(EventSummary, **event_fields, total_entries=index64),
}


def _sample(model: type[BaseModel]) -> BaseModel:
    """One fixed, valid instance of ``model`` (the seed of the mutations)."""
    event_id = uuid.UUID("01900000-0000-7000-8000-000000000001")
    when = dt.datetime(2026, 1, 10, 12, 30, 15, 250000, tzinfo=dt.UTC)
    pick = StationPicks(stations="KORD", temp_high=Comparison.OVER, wind_speed=Comparison.PAR)
    entry = WeatherEntry(id=event_id, event_id=event_id, expected_observations=[pick], score=7)
    common: dict[str, Any] = {
        "id": event_id,
        "signing_date": when,
        "start_observation_date": when,
        "end_observation_date": when,
        "locations": ["KORD", "KLAX"],
        "number_of_values_per_entry": 6,
        "status": EventStatus.LIVE,
        "total_allowed_entries": 2,
        "number_of_places_win": 1,
        "weather": [
            Weather(station_id="KORD", forecasted=Forecasted(date=when, temp_low=1, temp_high=9))
        ],
        "attestation": None,
        "nonce_point": "02" + "11" * 32,
    }
    samples: dict[type[BaseModel], BaseModel] = {
        CreateEvent: CreateEvent(
            **{k: common[k] for k in CreateEvent.model_fields if k in common},
            scoring_fields=[Metric.TEMP_HIGH],
        ),
        AddEventEntries: AddEventEntries(
            event_id=event_id,
            entries=[AddEventEntry(id=event_id, event_id=event_id, expected_observations=[pick])],
        ),
        WeatherEntry: entry,
        Event: Event(
            **common,
            entry_ids=[event_id],
            entries=[entry],
            event_announcement=EventAnnouncement(locking_points=["03" + "22" * 32], expiry=5),
        ),
        EventSummary: EventSummary(**common, total_entries=1),
    }
    return samples[model]


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
@settings(max_examples=examples(40), deadline=None)
@given(data=st.data())
def test_wire_documents_round_trip(model: type[BaseModel], data: st.DataObject) -> None:
    value = data.draw(MODELS[model])
    again = model.model_validate_json(value.model_dump_json())
    assert again == value
    assert again.model_dump_json() == value.model_dump_json()


def _refused_or_stable(model: type[BaseModel], parse: Any, document: Any) -> None:
    try:
        value = parse(document)
    except ValidationError:
        return
    assert model.model_validate_json(value.model_dump_json()) == value


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
@settings(max_examples=examples(60), deadline=None)
@given(data=st.data())
def test_mutated_wire_documents_are_refused(model: type[BaseModel], data: st.DataObject) -> None:
    document = data.draw(mutated_json(_sample(model).model_dump(mode="json")))
    _refused_or_stable(model, model.model_validate, document)


@pytest.mark.parametrize("model", [CreateEvent, AddEventEntries, Event], ids=lambda m: m.__name__)
@settings(max_examples=examples(60), deadline=None)
@given(data=st.data())
def test_mutated_wire_text_is_refused(model: type[BaseModel], data: st.DataObject) -> None:
    text = data.draw(
        mutated_text(_sample(model).model_dump_json(), '0123456789abcdef{}[]",:-.TZ\n')
    )
    _refused_or_stable(model, model.model_validate_json, text)
