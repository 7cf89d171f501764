"""The replay guard across coordinator processes: ``coordinator serve`` killed and restarted
on its data folder, and two processes on one data folder (a blue/green switch), each answering
NIP-98 requests signed for one shared admin origin."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.auth.conftest import ADMIN_SECRET
from tests.conftest import free_port
from tests.support.nostr_auth import NostrSigner
from tests.support.stack import CoordinatorProcess

pytestmark = pytest.mark.crash

ORIGIN = "https://admin.coordinator.example"  # what both slots' clients sign (behind one proxy)
WHOAMI = "/admin/api/whoami"


def slot(root: Path, data: Path, name: str) -> CoordinatorProcess:
    """One coordinator process on the shared ``data`` folder, with ports of its own."""
    home = root / name
    home.mkdir()
    port, admin_port = free_port(), free_port()
    env = {
        "COORDINATOR__LOG_LEVEL": "warning",
        "COORDINATOR__DB__DATA_FOLDER": str(data),
        "COORDINATOR__COORDINATOR__PRIVATE_KEY_FILE": str(root / "creds" / "key.pem"),
        "COORDINATOR__BITCOIN__STORAGE_FILE": str(home / "bitcoin.db"),
        "COORDINATOR__API__PORT": str(port),
        "COORDINATOR__API__ORIGINS": f'["http://127.0.0.1:{port}"]',
        "COORDINATOR__ADMIN__PORT": str(admin_port),
        "COORDINATOR__ADMIN__TOKEN_FILE": str(root / "creds" / "admin_token"),
        "COORDINATOR__ADMIN__ORIGINS": f'["{ORIGIN}"]',
        "COORDINATOR__ADMIN__NPUBS": f'["{NostrSigner(ADMIN_SECRET).npub}"]',
        "COORDINATOR__DEVNET__DATA_FOLDER": str(home / "devnet"),
        "COORDINATOR__METRICS__ENABLED": "false",
        "COORDINATOR__BACKUP__ENABLED": "false",
    }
    return CoordinatorProcess(
        home, env, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
    )


@pytest.fixture(scope="module")
def slots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CoordinatorProcess, ...]]:
    root = tmp_path_factory.mktemp("blue-green")
    data = root / "data"
    blue, green = slot(root, data, "blue"), slot(root, data, "green")
    try:
        blue.start()  # first: it migrates users.db and creates the key and token files
        green.start()
        yield blue, green
    finally:
        for process in (blue, green):
            process.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=24)) as shared:
        yield shared


def whoami(client: httpx.Client, process: CoordinatorProcess, header: str) -> tuple[int, str]:
    assert process.admin_url is not None
    response = client.get(process.admin_url + WHOAMI, headers={"Authorization": header})
    body = response.json()
    if response.is_success:
        return response.status_code, body["pubkey"]
    return response.status_code, body["error"]["type"]


def test_an_event_accepted_before_a_crash_is_refused_after_the_restart(
    slots: tuple[CoordinatorProcess, ...], client: httpx.Client
) -> None:
    blue, _ = slots
    admin = NostrSigner(ADMIN_SECRET)
    header = admin.header("GET", ORIGIN + WHOAMI)
    assert whoami(client, blue, header) == (200, admin.pubkey)
    assert whoami(client, blue, header) == (401, "replayed_event")
    blue.restart()  # SIGKILL: no shutdown, no checkpoint; then a fresh process
    assert whoami(client, blue, header) == (401, "replayed_event")  # still inside its 60 s
    assert whoami(client, blue, admin.header("GET", ORIGIN + WHOAMI)) == (200, admin.pubkey)


def test_two_processes_on_one_data_folder_accept_each_event_once(
    slots: tuple[CoordinatorProcess, ...], client: httpx.Client
) -> None:
    """Twenty events, each sent three times to each process at once: one answer of six is
    200, the others are 401 ``replayed_event``, and successes are spread over both slots."""
    admin = NostrSigner(ADMIN_SECRET)
    headers = [admin.header("GET", ORIGIN + WHOAMI) for _ in range(20)]
    attempts = [(process, header) for header in headers for process in slots for _ in range(3)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(lambda attempt: whoami(client, *attempt), attempts))
    for k in range(len(headers)):
        answers = sorted(outcomes[k * 6 : (k + 1) * 6], key=lambda answer: answer[0])
        assert answers == [(200, admin.pubkey)] + [(401, "replayed_event")] * 5
    # Sequentially, an event used on one slot is refused by the other.
    header = admin.header("GET", ORIGIN + WHOAMI)
    assert whoami(client, slots[1], header) == (200, admin.pubkey)
    assert whoami(client, slots[0], header) == (401, "replayed_event")
