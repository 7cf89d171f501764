"""Fixtures of the oracle tests: a devnet oracle process and the scoring example."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import VECTORS, free_port
from tests.support.oracle import OracleHandle, running_oracle

ORACLE_SEED = "11" * 32
COORDINATOR_SECRET = bytes.fromhex("33" * 32)


@pytest.fixture(scope="module")
def devnet_oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OracleHandle]:
    """A devnet oracle with the vector key (d = 0x11…11), shared by one test module."""
    data_dir = tmp_path_factory.mktemp("oracle")
    with running_oracle(data_dir, free_port(), seed=ORACLE_SEED) as handle:
        yield handle


@pytest.fixture(scope="module")
def scoring_example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "oracle" / "scoring_example.json").read_text())
    return data


def example_weather(example: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The example's weather as a ``POST /devnet/weather`` body."""
    event = example["event"]
    start, end = event["start_observation_date"], event["end_observation_date"]
    return {
        "forecasts": [
            {"station_id": station, "date": start[:10], **values}
            for station, values in example["forecasts"].items()
        ],
        "observations": [
            {"station_id": station, "start_time": start, "end_time": end, **values}
            for station, values in example["observations"].items()
        ],
    }
