"""``oracle/attestation.json`` reproduced by the devnet oracle's own key and signing path.

The vector's oracle key is the devnet seed ``11…11``; its event nonce ``22…22`` is injected by
overriding the nonce source, so every case goes through the oracle API (create, submit, weather,
attest) in process and must yield the vector's nonce point, locking points and attestation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator.adapters.oracle import NoaaOracleClient
from coordinator.domain.ports.oracle import OracleEntry, OracleEventSpec
from coordinator_core.http_origin import OriginPolicy
from coordinator_core.ids import uuid7
from coordinator_core.observations import Comparison, StationPicks
from devnet.oracle.app import create_app
from devnet.oracle.keys import OracleKeys
from devnet.oracle.service import OracleService
from devnet.oracle.store import OracleStore
from tests.oracle.conftest import COORDINATOR_SECRET, ORACLE_SEED
from tests.oracle.test_client import spec_of
from ticketdlc.competition import canonical_entry_order

TOKEN = "vector-token"
OVER, PAR, UNDER = Comparison.OVER, Comparison.PAR, Comparison.UNDER
# Picks at KORD worth 50, 40 and 30 points (forecast 50/70/5, observed 50/71/5), then 0.
PICKS_BY_PLACE = [
    {"temp_high": OVER, "temp_low": PAR, "wind_speed": PAR},
    {"temp_low": PAR, "wind_speed": PAR},
    {"temp_high": OVER, "temp_low": PAR},
]
LOSING_PICKS = {"temp_high": UNDER}


@dataclass(frozen=True)
class VectorKeys(OracleKeys):
    """The seeded oracle key with the vector's fixed event nonce."""

    nonce: int = 0

    def event_nonce(self, event_id: uuid.UUID) -> int:
        return self.nonce


@pytest.fixture
def vector(vectors_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors_dir / "oracle" / "attestation.json").read_text())
    return data


@pytest.fixture
async def in_process_oracle(
    tmp_path: Path, vector: dict[str, Any]
) -> AsyncIterator[httpx.ASGITransport]:
    seeded = OracleKeys.from_seed(ORACLE_SEED)
    keys = VectorKeys(
        seeded.secret, seeded.pubkey, seeded.seed, int(vector["nonce_secret_hex"], 16)
    )
    service = OracleService(OracleStore(tmp_path / "oracle.sqlite"), keys)
    yield httpx.ASGITransport(
        app=create_app(service, TOKEN, OriginPolicy.from_config(["http://oracle.test"]))
    )
    service.store.close()


async def test_attestation_vector_reproduced(
    in_process_oracle: httpx.ASGITransport,
    vector: dict[str, Any],
    scoring_example: dict[str, Any],
) -> None:
    base = "http://oracle.test"
    weather = {
        "forecasts": [
            {"station_id": "KORD", "date": "2024-08-12", "temp_low": 50, "temp_high": 70,
             "wind_speed": 5},
        ],
        "observations": [
            {"station_id": "KORD", "date": "2024-08-12", "temp_low": 50, "temp_high": 71,
             "wind_speed": 5},
        ],
    }  # fmt: skip
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(transport=in_process_oracle, base_url=base, headers=auth) as control,
        NoaaOracleClient(base, COORDINATOR_SECRET, transport=in_process_oracle) as client,
    ):
        assert (await control.post("/devnet/weather", json=weather)).status_code == 200
        assert (await client.public_key()).hex() == vector["oracle_pubkey"]
        assert (await control.get("/oracle/pubkey")).json()["key"] == vector["oracle_pubkey_base64"]
        assert (await control.get("/oracle/npub")).json()["key"] == vector["oracle_npub"]
        for case in vector["cases"]:
            spec: OracleEventSpec = spec_of(
                scoring_example,
                locations=("KORD",),
                number_of_values_per_entry=3,
                total_allowed_entries=case["entries"],
                number_of_places_win=case["places"],
            )
            created = await client.create_event(spec)
            assert created.nonce_point is not None
            assert created.nonce_point.hex() == vector["nonce_point"]
            assert [p.hex() for p in created.announcement.points] == [
                outcome["locking_point"] for outcome in case["outcomes"]
            ]

            players = canonical_entry_order(uuid7() for _ in range(case["entries"]))
            picks = {index: LOSING_PICKS for index in range(case["entries"])}
            for place, index in enumerate(case["attested_ranking"]):
                picks[index] = PICKS_BY_PLACE[place]
            entries = [
                OracleEntry(players[i], (StationPicks(stations="KORD", **picks[i]),))
                for i in range(case["entries"])
            ]
            await client.submit_entries(spec.id, entries)
            assert (await control.post(f"/devnet/events/{spec.id}/attest")).status_code == 200

            event = await client.get_event(spec.id)
            assert event.attestation is not None
            assert f"{event.attestation:064x}" == case["attestation_scalar"]
            assert event.attested_outcome == case["attested_index"]
            signature = event.nonce_point.xonly() + event.attestation.to_bytes(32, "big")
            assert signature.hex() == case["bip340_signature"]
