"""The public pages in Chromium: the §13.2 scenarios adapted to these pages.

Logged-in scenarios restore a session in the tab (what a login leaves behind); the personal
pages are then fetched with NIP-98 signatures made by the browser module and verified by the
server. Every test also checks that the page logged no error.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import (
    DESKTOP,
    Recorder,
    Site,
    log_in,
    map_geometry,
    screenshot,
    stations,
    unlabelled_controls,
)


def _open(page: Page, site: Site, path: str = "/") -> None:
    page.goto(site.url + path)
    expect(page.locator("body[data-ready='true']")).to_be_attached()


def test_anonymous_visitor_sees_brand_table_and_account_buttons(
    page: Page, site: Site, recorder: Recorder
) -> None:
    _open(page, site)
    expect(page.locator(".brand")).to_contain_text("Forecast Coordinator")
    expect(page.locator("#competitionsDataTable")).to_be_visible()
    expect(page.locator("#loginButton")).to_be_visible()
    expect(page.locator("#signupButton")).to_be_visible()
    expect(page.locator("#logoutButton")).to_be_hidden()
    for name in ("Competitions", "Entries", "Payouts", "Help"):
        expect(page.locator(".nav-links").get_by_role("link", name=name)).to_be_visible()
    headers = page.locator("#competitionsDataTable thead th")
    for name in ("Status", "Start", "End", "Signing", "Fee", "Pool", "Entries", "Winners"):
        expect(headers.filter(has_text=name)).to_have_count(1)


def test_logged_in_player_sees_the_table_headers(page: Page, site: Site) -> None:
    _open(page, site)
    log_in(page, site)
    _open(page, site)
    expect(page.locator("#accountName")).to_have_text("alice")
    headers = page.locator("#competitionsDataTable thead th")
    for name in ("Status", "Start", "End", "Signing", "Fee", "Pool", "Entries", "Winners"):
        expect(headers.filter(has_text=name)).to_have_count(1)


def test_console_errors_of_every_tab_are_collected(
    page: Page, site: Site, recorder: Recorder
) -> None:
    """What makes every browser test fail on a console error (``conftest.page``)."""
    _open(page, site)
    page.evaluate("console.error('first tab')")
    other = page.context.new_page()
    other.goto(site.url + "/help")
    other.evaluate("setTimeout(() => { throw new Error('second tab'); })")
    expect(other.locator("#help")).to_be_visible()
    other.wait_for_timeout(200)
    assert recorder.unexpected_errors() == ["first tab", "second tab"]
    recorder.expect_error("^(first|second) tab$")
    assert recorder.unexpected_errors() == []


def test_status_badges_and_enter_buttons(page: Page, site: Site, recorder: Recorder) -> None:
    _open(page, site)
    rows = page.locator("#competitionRows tr")
    expect(rows).to_have_count(3)
    labels = page.locator("#competitionRows .tag").all_inner_texts()
    assert set(labels) == {"Registration", "Live", "Completed"}
    for row in rows.all():
        status = row.locator(".tag").inner_text()
        enter = row.get_by_role("link", name="Enter")
        expect(enter).to_have_count(1 if status == "Registration" else 0)


def test_rows_refresh_fragment_is_bare_html(page: Page, site: Site) -> None:
    response = page.request.get(site.url + "/competitions/rows")
    assert response.ok
    assert response.text().lstrip().startswith("<tr")


def test_htmx_navigation_gets_fragments_and_deep_links_full_pages(page: Page, site: Site) -> None:
    full = page.request.get(site.url + "/help")
    fragment = page.request.get(site.url + "/help", headers={"HX-Request": "true"})
    assert "<html" in full.text() and "<html" not in fragment.text()
    assert 'id="help"' in fragment.text()
    _open(page, site)
    page.locator("#navHelp").click()
    expect(page.locator("#help")).to_be_visible()
    assert page.url.endswith("/help")
    expect(page.locator("#navHelp")).to_have_attribute("aria-current", "page")


def test_enter_needs_login(page: Page, site: Site) -> None:
    _open(page, site)
    page.get_by_role("link", name="Enter").click()
    expect(page.locator("#loginDialog")).to_be_visible()
    expect(page.locator("label[for='loginUsername']")).to_have_text("Username")


def test_entry_form_picks_toggle_and_back(page: Page, site: Site, recorder: Recorder) -> None:
    _open(page, site)
    log_in(page, site)
    _open(page, site)
    expect(page.locator("#accountName")).to_have_text("alice")
    page.get_by_role("link", name="Enter").click()
    expect(page.locator("#entryContainer")).to_be_visible()
    expect(page.locator("#submitEntry")).to_be_visible()
    expect(page.locator("#backToCompetitions")).to_be_visible()
    expect(page.locator("#stationMap .marker")).to_have_count(3)  # the desktop layout
    expect(page.locator("#stationMap")).to_contain_text("H 71° L 55°")
    picks = page.locator("button.pick")
    expect(picks).to_have_count(27)
    assert set(picks.all_inner_texts()) == {"Over", "Par", "Under"}
    first = picks.first
    expect(first).to_have_attribute("aria-pressed", "false")
    first.click()
    expect(first).to_have_attribute("aria-pressed", "true")
    picks.nth(1).click()  # another choice in the same row replaces the first
    expect(first).to_have_attribute("aria-pressed", "false")
    picks.nth(1).click()  # tapping again clears it
    expect(picks.nth(1)).to_have_attribute("aria-pressed", "false")
    page.locator("#backToCompetitions").click()
    expect(page.locator("#allCompetitions")).to_be_visible()


def test_submit_without_picks_says_so(page: Page, site: Site) -> None:
    _open(page, site)
    log_in(page, site)
    _open(page, site, f"/competitions/{site.open_id}/entry-form")
    page.locator("#submitEntry").click()
    expect(page.locator("#entryError")).to_have_text("Make at least one pick first.")


def test_entry_form_deep_link_is_a_full_page(page: Page, site: Site) -> None:
    _open(page, site, f"/competitions/{site.open_id}/entry-form")
    expect(page.locator("#entryForm")).to_have_attribute("data-max-values", "9")
    expect(page.locator(".site-header")).to_be_visible()


@pytest.mark.parametrize(
    ("name", "viewport", "svg_id"),
    [
        ("360", {"width": 360, "height": 740}, "stationMapPhone"),
        ("375", {"width": 375, "height": 812}, "stationMapPhone"),
        ("414", {"width": 414, "height": 896}, "stationMapPhone"),
        ("desktop", DESKTOP, "stationMap"),
    ],
)
def test_station_map_is_readable_and_leads_to_the_picks(
    page: Page, site: Site, name: str, viewport: dict[str, int], svg_id: str
) -> None:
    """At phone widths the phone layout of the map is shown: its labels stay readable (the
    whole-map scaling once drew them 6-7 px tall at 375 px) and every station is a tap target
    of at least 24 px that leads to the station's picks, with no JavaScript of its own."""
    page.set_viewport_size(viewport)
    _open(page, site)
    log_in(page, site)
    _open(page, site)
    page.get_by_role("link", name="Enter").click()  # the form arrives as an htmx fragment
    expect(page.locator("#entryForm")).to_be_visible()
    geometry = map_geometry(page)
    assert geometry.svg_id == svg_id
    assert {text for text, _ in geometry.labels} >= {*stations(), "H 71° L 55° W 12"}
    assert geometry.smallest_label >= 11, geometry.labels
    assert set(geometry.targets) == set(stations())
    assert geometry.smallest_target >= 24, geometry.targets
    assert geometry.overflow <= 0

    # A tap inside the target but off the marker's dot goes to that station's picks.
    box = page.locator(f"#{svg_id} [data-station='KJFK'] .hit").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + 3)
    expect(page).to_have_url(re.compile("#pick-KJFK$"))
    shown = page.evaluate("document.querySelector('fieldset.station:target')?.dataset.station")
    assert shown == "KJFK"
    expect(page.locator("#pick-KJFK legend")).to_be_in_viewport()
    page.keyboard.press("Tab")  # the next control is the station's first pick
    page.keyboard.press("Space")
    expect(page.locator("#pick-KJFK button.pick").first).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#picksCount")).to_have_text(re.compile("^1 of "))
    screenshot(page, f"entry-map-picked-{name}")


def test_leaderboard_ranks_and_entry_detail(page: Page, site: Site, recorder: Recorder) -> None:
    _open(page, site, f"/competitions/{site.finished_id}/leaderboard")
    rows = page.locator("#competitionLeaderboardData tbody tr")
    expect(rows).to_have_count(3)
    assert rows.first.locator("td").first.inner_text() == "1"
    expect(page.locator("#competitionLeaderboard .tag")).to_have_text("Completed")
    page.locator(f"button[data-entry-id='{site.entry_id}']").click()
    dialog = page.locator("#detailDialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Picks & score")
    expect(dialog.locator("tbody tr")).to_have_count(3)
    expect(dialog).to_contain_text("Total:")


def test_personal_pages_ask_for_login_when_logged_out(page: Page, site: Site) -> None:
    _open(page, site, "/entries")
    expect(page.locator(".login-needed")).to_be_visible()
    page.locator(".login-needed .open-login").click()
    expect(page.locator("#loginDialog")).to_be_visible()
    answer = page.request.get(site.url + "/entries", headers={"HX-Request": "true"})
    assert answer.status == 401 and "Please log in" in answer.text()


def test_personal_pages_are_signed_with_nip98(page: Page, site: Site, recorder: Recorder) -> None:
    _open(page, site)
    log_in(page, site)
    _open(page, site, "/entries")
    expect(page.locator("#allEntries")).to_be_visible()
    expect(page.locator("#entriesDataTable tbody tr")).to_have_count(1)
    expect(page.locator("#entriesDataTable")).to_contain_text(site.entry_id[-8:])
    page.locator("#navPayouts").click()
    expect(page.locator("#payouts")).to_be_visible()
    expect(page.locator("#payouts")).to_contain_text("No entries eligible for payout")
    page.locator("#navCompetitions").click()
    expect(page.locator("#allCompetitions")).to_be_visible()


def test_forged_signature_is_refused_with_a_message(page: Page, site: Site) -> None:
    answer = page.request.get(
        site.url + "/entries",
        headers={"HX-Request": "true", "Authorization": "Nostr bm90IGFuIGV2ZW50"},
    )
    assert answer.status in (400, 401)
    assert "Authentication failed" in answer.text()


def test_logout_restores_the_anonymous_state(page: Page, site: Site) -> None:
    _open(page, site)
    log_in(page, site)
    _open(page, site)
    expect(page.locator("#logoutButton")).to_be_visible()
    page.locator("#logoutButton").click()
    expect(page.locator("#loginButton")).to_be_visible()
    expect(page.locator("#logoutButton")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('forecast.session')") is None


def test_signup_checks_username_and_password(page: Page, site: Site) -> None:
    _open(page, site)
    page.locator("#signupButton").click()
    cases = [
        ("ab", "Str0ng!Passw0rd", "Str0ng!Passw0rd", "at least 3 characters"),
        ("123user", "Str0ng!Passw0rd", "Str0ng!Passw0rd", "start with a letter"),
        ("carol", "short", "short", "10 characters"),
        ("carol", "Str0ng!Passw0rd", "Str0ng!Passw0rX", "do not match"),
    ]
    for username, password, confirm, message in cases:
        page.locator("#signupUsername").fill(username)
        page.locator("#signupPassword").fill(password)
        page.locator("#signupConfirm").fill(confirm)
        page.locator("#signupNext").click()
        expect(page.locator("#signupError")).to_contain_text(message)
        expect(page.locator("#signupStep2")).to_be_hidden()


def test_signup_shows_the_key_and_requires_the_backup_tick(page: Page, site: Site) -> None:
    _open(page, site)
    page.locator("#signupButton").click()
    page.locator("#signupUsername").fill("carol")
    page.locator("#signupPassword").fill("Str0ng!Passw0rd")
    page.locator("#signupConfirm").fill("Str0ng!Passw0rd")
    page.locator("#signupNext").click()
    expect(page.locator("#signupStep2")).to_be_visible()
    expect(page.locator("#signupNsec")).to_have_text(re.compile(r"^nsec1[02-9ac-hj-np-z]{58}$"))
    expect(page.locator("#signupComplete")).to_be_disabled()
    page.locator("#signupBackedUp").check()
    expect(page.locator("#signupComplete")).to_be_enabled()


def test_login_and_signup_dialog_tabs(page: Page, site: Site) -> None:
    _open(page, site)
    page.locator("#loginButton").click()
    expect(page.locator("#loginForm")).to_be_visible()
    page.locator("#loginTabExtension").click()
    expect(page.locator("#loginPanelExtension")).to_be_visible()
    expect(page.locator("#loginForm")).to_be_hidden()
    expect(page.locator("#extensionLogin")).to_be_visible()
    page.locator("#loginTabPassword").click()
    expect(page.locator("#loginForm")).to_be_visible()
    page.keyboard.press("Escape")
    page.locator("#signupButton").click()
    page.locator("#signupTabExtension").click()
    expect(page.locator("#extensionSignup")).to_be_visible()
    page.locator("#signupTabPassword").click()
    expect(page.locator("#signupForm")).to_be_visible()


def test_extension_login_without_an_extension_says_so(page: Page, site: Site) -> None:
    _open(page, site)
    page.locator("#loginButton").click()
    page.locator("#loginTabExtension").click()
    page.locator("#extensionLogin").click()
    expect(page.locator("#extensionLoginError")).to_contain_text("No Nostr browser extension")


def test_network_failure_is_shown(page: Page, site: Site, recorder: Recorder) -> None:
    recorder.expect_error("net::ERR_FAILED")
    recorder.expect_error("^htmx:(sendError|afterRequest), ")  # htmx logs the failure too
    _open(page, site)
    page.context.route("**/competitions/rows", lambda route: route.abort())
    page.evaluate(
        "() => { htmx.ajax('GET', '/competitions/rows', {target: '#competitionRows'})"
        ".catch(() => {}); }"
    )
    expect(page.locator("#notice")).to_contain_text("Network error")


def test_network_failure_of_an_api_call_is_shown(
    page: Page, site: Site, recorder: Recorder
) -> None:
    """Submitting an entry while the coordinator cannot be reached says so on the form."""
    recorder.expect_error("net::ERR_FAILED")
    _open(page, site)
    log_in(page, site)
    _open(page, site, f"/competitions/{site.open_id}/entry-form")
    page.context.route("**/api/v1/**", lambda route: route.abort())
    page.locator("button.pick").first.click()
    page.locator("#submitEntry").click()
    expect(page.locator("#entryError")).to_contain_text(
        "Network error: the coordinator could not be reached"
    )
    expect(page.locator("#submitEntry")).to_be_enabled()


def test_theme_toggle_persists(page: Page, site: Site) -> None:
    _open(page, site)
    before = page.evaluate("document.documentElement.dataset.theme")
    page.locator("#themeToggle").click()
    after = page.evaluate("document.documentElement.dataset.theme")
    assert {before, after} == {"light", "dark"}
    _open(page, site, "/help")
    assert page.evaluate("document.documentElement.dataset.theme") == after


def test_every_form_control_has_a_label(page: Page, site: Site) -> None:
    """On every public page, its dialogs (login, sign-up, payment, payout, claim, checks)
    included: every input and button has a label or an accessible name."""
    _open(page, site)
    log_in(page, site)
    paths = [
        "/competitions",
        f"/competitions/{site.open_id}/entry-form",
        f"/competitions/{site.finished_id}/leaderboard",
        "/entries",
        "/payouts",
        "/help",
    ]
    for path in paths:
        _open(page, site, path)
        expect(page.locator("main")).not_to_be_empty()
        assert unlabelled_controls(page) == [], path
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<input id=probe><button></button>')"
    )
    assert unlabelled_controls(page)[0] == "probe"  # the check sees what it must


def test_unknown_competition_is_a_clear_404(page: Page, site: Site, recorder: Recorder) -> None:
    recorder.expect_status(404)
    answer = page.goto(site.url + "/competitions/01a2313e-0000-7000-8000-000000000000/leaderboard")
    assert answer is not None and answer.status == 404
    expect(page.locator("#problemTitle")).to_have_text("Not found")


def test_assets_are_served_locally_with_cache_headers(page: Page, site: Site) -> None:
    for name in ("app.js", "htmx.min.js", "styles.css", "theme.js", "favicon.svg"):
        answer = page.request.get(f"{site.url}/assets/{name}")
        assert answer.ok, name
        assert "immutable" in answer.headers["cache-control"]
    page_answer = page.request.get(site.url + "/")
    assert "script-src 'self'" in page_answer.headers["content-security-policy"]
