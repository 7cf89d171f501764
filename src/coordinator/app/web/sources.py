"""Where a running application's pages get their data from."""

from __future__ import annotations

from fastapi import FastAPI

from coordinator.app.web.data import CompetitionReader, NoCompetitions, PageData, WeatherSource
from coordinator.app.web.store_reader import StoreReader
from coordinator.config import Settings
from coordinator.domain.ports.oracle import OraclePort


def attach_page_data(
    app: FastAPI,
    settings: Settings,
    oracle: OraclePort | None,
    competitions: CompetitionReader | None = None,
) -> None:
    """Give the pages their sources (the oracle, the competition records)."""
    app.state.page_data = PageData(
        competitions or NoCompetitions(), WeatherSource(oracle), settings.bitcoin.network
    )


def page_data(app: FastAPI) -> PageData:
    """The pages' sources: set by :func:`attach_page_data`, else built once from the runtime
    (its oracle client and competition store)."""
    data: PageData | None = getattr(app.state, "page_data", None)
    if data is None:
        runtime = app.state.runtime
        reader: CompetitionReader | None = None
        if runtime.competitions is not None:
            reader = StoreReader(runtime.competitions.lc.store, runtime.settings.bitcoin.network)
        attach_page_data(app, runtime.settings, runtime.oracle, reader)
        data = app.state.page_data
        assert data is not None
    return data
