"""Where a running application's pages get their data from."""

from __future__ import annotations

from fastapi import FastAPI

from coordinator.app.web.data import (
    CompetitionReader,
    NoCompetitions,
    OwnerNames,
    PageData,
    WeatherSource,
)
from coordinator.app.web.store_reader import StoreReader
from coordinator.config import Settings
from coordinator.domain.ports.oracle import OraclePort
from coordinator.domain.ports.users import UserStore
from coordinator_core.nostr import npub_encode


class AccountNames:
    """:class:`OwnerNames` from the accounts store (users.db)."""

    def __init__(self, store: UserStore) -> None:
        self.store = store

    async def username(self, pubkey: str) -> str | None:
        try:
            npub = npub_encode(bytes.fromhex(pubkey))
        except ValueError:
            return None
        user = await self.store.by_npub(npub)
        return None if user is None else user.username


def attach_page_data(
    app: FastAPI,
    settings: Settings,
    oracle: OraclePort | None,
    competitions: CompetitionReader | None = None,
    names: OwnerNames | None = None,
) -> None:
    """Give the pages their sources (the oracle, the competition records, usernames)."""
    app.state.page_data = PageData(
        competitions or NoCompetitions(), WeatherSource(oracle), settings.bitcoin.network, names
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
        names = None if runtime.accounts is None else AccountNames(runtime.accounts.store)
        attach_page_data(app, runtime.settings, runtime.oracle, reader, names)
        data = app.state.page_data
        assert data is not None
    return data
