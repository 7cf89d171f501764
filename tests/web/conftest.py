"""Browser tests: one headless Debian Chromium per session, driven by Playwright.

The browser is never downloaded: ``/usr/bin/chromium`` comes from Debian (``make browser``).
Each test gets a fresh context (its own storage) that records every request its pages make
and every console error or uncaught exception, so a test can assert that nothing left
127.0.0.1. A console error fails the test that caused it (checked when its context closes),
unless the test declared it with ``recorder.expect_error`` because it provoked the failure and
checked the message the page shows for it: no failure may stay hidden in the console.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn

from coordinator.adapters.oracle.client import NoaaOracleClient
from coordinator.app.web.assets import AssetStore
from coordinator.config import ApiSettings, Settings
from tests.conftest import free_port
from tests.support.oracle import running_oracle
from tests.support.stack import DevnetStack, StackOptions, running_stack
from tests.web.fixtures import STATIONS, Seeded, pages_app
from ticketdlc.crypto import bip340

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).with_name("screenshots")
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

playwright_sync = pytest.importorskip("playwright.sync_api")


# Package scope: one browser for every test of tests/web, closed before other packages run
# (Playwright's sync API drives an event loop on this thread while it is open, which the
# asyncio tests elsewhere must not see).
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser`")
    if AssetStore.load().missing:
        pytest.fail("the browser module is not built: run `make web`")
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class ServerThread:
    """A uvicorn server for an ASGI app on a free loopback port, in a thread."""

    def __init__(self, app: object, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the page server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Site:
    """The running pages with the records they show."""

    url: str
    player_pubkey: str
    player_secret: bytes
    open_id: str
    finished_id: str
    entry_id: str


PLAYER_SECRET = bytes.fromhex("7f" * 32)


def _weather(start: dt.datetime, end: dt.datetime) -> dict[str, list[dict[str, object]]]:
    values = {"KORD": (71, 55, 12), "KJFK": (64, 50, 15), "KLAX": (78, 61, 8)}
    return {
        "forecasts": [
            {"station_id": s, "date": start.date().isoformat(), "temp_high": h, "temp_low": lo,
             "wind_speed": w}
            for s, (h, lo, w) in values.items()
        ],
        "observations": [
            {"station_id": s, "start_time": start.isoformat(), "end_time": end.isoformat(),
             "temp_high": h + 2.4, "temp_low": lo, "wind_speed": w - 3}
            for s, (h, lo, w) in values.items()
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    pubkey = bip340.xonly_pubkey(PLAYER_SECRET).hex()
    with running_oracle(
        tmp_path_factory.mktemp("web-oracle"), free_port(), seed="11" * 32
    ) as oracle:
        for start in (now - dt.timedelta(hours=3), now + dt.timedelta(hours=1)):
            oracle.put_weather(**_weather(start, start + dt.timedelta(hours=1))).raise_for_status()
        client = NoaaOracleClient(oracle.url, bytes.fromhex("33" * 32))
        seeded = Seeded()
        port = free_port()
        settings = Settings(api=ApiSettings(port=port, origins=[f"http://127.0.0.1:{port}"]))
        app = pages_app(settings, tmp_path_factory.mktemp("web-db"), client, pubkey, seeded, now)
        with ServerThread(app, port) as server:
            yield Site(server.url, pubkey, PLAYER_SECRET, seeded.open_id, seeded.finished_id,
                       seeded.entry_id)  # fmt: skip


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetStack]:
    """The whole devnet stack with ``coordinator serve`` (shared by the tests that need it)."""
    root = tmp_path_factory.mktemp("web-stack")
    # Every browser test signs in from 127.0.0.1: the per-address login budget would be the
    # whole package's, so the address bucket is widened (the per-username one is kept).
    options = StackOptions(
        log_level="warning",
        coordinator_settings={"COORDINATOR__AUTH__ADDRESS_BURST": "10000"},
    )
    with running_stack(root, options) as running:
        yield running


@dataclass
class Recorder:
    """What one browser context did: every request URL and every console error."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect_error(self, pattern: str) -> None:
        """A console error this test provokes on purpose (and checks the page's message for)."""
        self.expected.append(re.compile(pattern))

    def expect_status(self, status: int) -> None:
        """An HTTP error answer this test provokes: Chromium logs every one to the console."""
        self.expect_error(rf"the server responded with a status of {status} ")

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]

    def watch(self, page: object) -> None:
        """Record the console errors and uncaught exceptions of ``page``."""
        page.on(  # type: ignore[attr-defined]
            "console", lambda m: self.errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: self.errors.append(str(e)))  # type: ignore[attr-defined]

    def foreign_requests(self) -> list[str]:
        allowed = {"127.0.0.1"}
        return [u for u in self.requests if urlsplit(u).scheme not in ("data", "blob")
                and urlsplit(u).hostname not in allowed]  # fmt: skip


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def page(browser: object, recorder: Recorder) -> Iterator[object]:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[attr-defined]

    def record(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        recorder.requests.append(request.url)
        if urlsplit(request.url).hostname != "127.0.0.1":
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]

    context.route("**/*", record)
    context.on("page", recorder.watch)  # every tab of the context, the first one included
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
    unexpected = recorder.unexpected_errors()
    if unexpected:
        pytest.fail("the pages logged errors to the console:\n" + "\n".join(unexpected))


def screenshot(page: object, name: str) -> None:
    """Save a full-page screenshot under tests/web/screenshots/ (git-ignored); at phone width
    the page must also fit the screen (nothing wider than it that scrolls the whole page)."""
    if (page.viewport_size or {}).get("width") == PHONE["width"]:  # type: ignore[attr-defined]
        wide = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert wide <= PHONE["width"], f"{name}: the page is {wide}px wide on a phone"
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def screenshots(page: object, name: str, theme: str = "light") -> None:
    """Save ``<name>-desktop-<theme>.png`` and ``<name>-phone-<theme>.png`` of the page as it is
    (dialogs open included); the viewport is restored afterwards."""
    size = page.viewport_size  # type: ignore[attr-defined]
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)  # type: ignore[attr-defined]
        screenshot(page, f"{name}-{width}-{theme}")
    page.set_viewport_size(size or DESKTOP)  # type: ignore[attr-defined]


def admin_log_in(page: object, stack: DevnetStack) -> str:
    """Log in to the admin pages of the stack's admin listener with its token: the admin URL."""
    from playwright.sync_api import expect

    url = stack.coordinator.admin_url
    assert url is not None
    page.goto(url + "/admin/")  # type: ignore[attr-defined]
    expect(page.locator("body[data-ready='true']")).to_be_attached()  # type: ignore[attr-defined]
    page.locator("#adminToken").fill(stack.admin_token)  # type: ignore[attr-defined]
    page.locator("#adminLoginSubmit").click()  # type: ignore[attr-defined]
    expect(page.locator("#adminCompetitions")).to_be_visible()  # type: ignore[attr-defined]
    return url


def log_in(page: object, site: Site, seed: bytes = b"\x05" * 32) -> None:
    """Restore a logged-in session in this tab (as after a login: key and seed in the tab)."""
    page.evaluate(  # type: ignore[attr-defined]
        "([secret, pubkey, seed]) => sessionStorage.setItem('forecast.session', JSON.stringify("
        "{name: 'alice', kind: 'local', pubkey, secret, seed}))",
        [site.player_secret.hex(), site.player_pubkey, seed.hex()],
    )


MAP_GEOMETRY = """() => {
  const svg = [...document.querySelectorAll('.station-map svg')]
    .find((s) => s.getClientRects().length);
  const size = (el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
  return {
    id: svg.id,
    labels: [...svg.querySelectorAll('.marker text')].map((t) => [t.textContent, size(t)[1]]),
    targets: [...svg.querySelectorAll('.hit')]
      .map((h) => [h.closest('[data-station]').dataset.station, ...size(h)]),
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  };
}"""


@dataclass(frozen=True)
class MapGeometry:
    """What the station map shown at the current viewport measures on screen, in CSS px."""

    svg_id: str  # which layout of the map is visible
    labels: list[tuple[str, float]]  # text and rendered height of every label line
    targets: dict[str, tuple[float, float]]  # station id → width and height of its tap target
    overflow: int  # how much wider than the viewport the page is

    @property
    def smallest_label(self) -> float:
        return min(height for _, height in self.labels)

    @property
    def smallest_target(self) -> float:
        return min(min(size) for size in self.targets.values())


def map_geometry(page: object) -> MapGeometry:
    found = page.evaluate(MAP_GEOMETRY)  # type: ignore[attr-defined]
    return MapGeometry(
        found["id"],
        [(text, height) for text, height in found["labels"]],
        {station: (width, height) for station, width, height in found["targets"]},
        found["overflow"],
    )


UNLABELLED = """() => {
  const named = (el) => (el.labels && el.labels.length) || el.getAttribute('aria-label')
    || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim());
  return [...document.querySelectorAll('input, textarea, select, button')]
    .filter((el) => el.type !== 'hidden' && !named(el))
    .map((el) => el.id || el.name || el.outerHTML.slice(0, 80));
}"""


def unlabelled_controls(page: object) -> list[str]:
    """Form controls and buttons of the page (its dialogs included) with no accessible name."""
    found: list[str] = page.evaluate(UNLABELLED)  # type: ignore[attr-defined]
    return found


def stations() -> tuple[str, ...]:
    return STATIONS


os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
