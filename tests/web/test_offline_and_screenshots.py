"""Every page works from 127.0.0.1 alone, and a screenshot of each is saved for people to see.

The context of each test routes every request through the recorder (``conftest.page``), which
aborts anything not addressed to 127.0.0.1; the test then asserts nothing tried to leave.
Screenshots go to ``tests/web/screenshots/`` (git-ignored), at desktop and phone widths.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import DESKTOP, PHONE, Recorder, Site, log_in, screenshot


def _ready(page: Page) -> None:
    expect(page.locator("body[data-ready='true']")).to_be_attached()


def _visit(page: Page, site: Site, path: str) -> None:
    page.goto(site.url + path)
    _ready(page)


def _pages(site: Site) -> list[tuple[str, Callable[[Page], None]]]:
    def competitions(page: Page) -> None:
        _visit(page, site, "/competitions")

    def entry_form(page: Page) -> None:
        _visit(page, site, f"/competitions/{site.open_id}/entry-form")
        page.locator("button.pick").nth(0).click()
        page.locator("button.pick").nth(4).click()

    def leaderboard(page: Page) -> None:
        _visit(page, site, f"/competitions/{site.finished_id}/leaderboard")

    def entry_detail(page: Page) -> None:
        leaderboard(page)
        page.locator(f"button[data-entry-id='{site.entry_id}']").click()
        expect(page.locator("#detailDialog")).to_be_visible()

    def entries(page: Page) -> None:
        _visit(page, site, "/entries")
        expect(page.locator("#allEntries")).to_be_visible()

    def payouts(page: Page) -> None:
        _visit(page, site, "/payouts")
        expect(page.locator("#payouts")).to_be_visible()

    def help_page(page: Page) -> None:
        _visit(page, site, "/help")

    def login_dialog(page: Page) -> None:
        page.evaluate("sessionStorage.clear()")
        _visit(page, site, "/competitions")
        page.locator("#loginButton").click()
        page.locator("#loginUsername").fill("alice")
        page.locator("#loginPassword").fill("wrong")

    def signup_dialog(page: Page) -> None:
        page.evaluate("sessionStorage.clear()")
        _visit(page, site, "/competitions")
        page.locator("#signupButton").click()
        page.locator("#signupUsername").fill("ab")
        page.locator("#signupNext").click()
        expect(page.locator("#signupError")).to_be_visible()

    return [
        ("competitions", competitions),
        ("entry-form", entry_form),
        ("leaderboard", leaderboard),
        ("entry-detail", entry_detail),
        ("entries", entries),
        ("payouts", payouts),
        ("help", help_page),
        ("login", login_dialog),
        ("signup", signup_dialog),
    ]


def test_no_request_leaves_loopback(page: Page, site: Site, recorder: Recorder) -> None:
    _visit(page, site, "/")
    log_in(page, site)
    for _name, show in _pages(site):
        show(page)
        log_in(page, site)
    page.keyboard.press("Escape")
    page.locator("#themeToggle").click()
    assert len(recorder.requests) > 20
    assert recorder.foreign_requests() == []


@pytest.mark.parametrize(("width", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots(page: Page, site: Site, recorder: Recorder, width: str,
                     viewport: dict[str, int]) -> None:  # fmt: skip
    page.set_viewport_size(viewport)
    _visit(page, site, "/")
    for theme in ("light", "dark"):
        page.evaluate("(t) => localStorage.setItem('theme', t)", theme)
        for name, show in _pages(site):
            if theme == "dark" and name not in ("competitions", "entry-form", "leaderboard"):
                continue
            log_in(page, site)
            show(page)
            screenshot(page, f"{name}-{width}-{theme}")
    assert recorder.foreign_requests() == []
