"""Operator pages in Chromium on the admin listener of ``coordinator serve`` (devnet stack):
token login, creating a competition with the station selector, its detail page, cancelling
it, and the wallet page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.stack import DevnetStack
from tests.web.conftest import (
    Recorder,
    admin_log_in,
    map_geometry,
    screenshot,
    screenshots,
    unlabelled_controls,
)

#: The first station whose marker a tap at its centre reaches (no other marker on top), with
#: that point.
TAPPABLE = """() => {
  document.getElementById('stationMapPhone').scrollIntoView({block: 'center'});
  for (const marker of document.querySelectorAll('#stationMapPhone .marker')) {
    const r = marker.querySelector('.dot').getBoundingClientRect();
    const [x, y] = [r.x + r.width / 2, r.y + r.height / 2];
    const reached = document.elementFromPoint(x, y)?.closest('.marker');
    if (reached === marker) return [marker.dataset.station, x, y];
  }
  return null;
}"""


def _admin_url(stack: DevnetStack) -> str:
    url = stack.coordinator.admin_url
    assert url is not None
    return url


def _open(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("body[data-ready='true']")).to_be_attached()


def test_wrong_token_is_refused(page: Page, stack: DevnetStack, recorder: Recorder) -> None:
    recorder.expect_status(401)
    _open(page, _admin_url(stack) + "/admin/")
    expect(page.locator("#adminLoginTitle")).to_be_visible()
    assert unlabelled_controls(page) == []
    page.locator("#adminToken").fill("not-the-token")
    page.locator("#adminLoginSubmit").click()
    expect(page.locator("#adminLoginError")).to_have_text("Wrong admin token.")
    screenshots(page, "admin-login")
    answer = page.request.post(_admin_url(stack) + "/admin/competitions", form={"id": "x"})
    assert answer.status == 401


def test_admin_creates_and_cancels_a_competition(
    page: Page, stack: DevnetStack, recorder: Recorder
) -> None:
    admin_log_in(page, stack)
    page.on("dialog", lambda dialog: dialog.accept())
    stations = page.locator("#stationTable input[name='locations']")
    assert stations.count() >= 3
    for index in range(2):
        stations.nth(index).check()
    third = stations.nth(2).get_attribute("value")
    marker = page.locator(f"#stationMap .marker[data-station='{third}']")
    marker.locator(".dot").click()  # picking on the map ticks the list, and shows it
    expect(page.locator(f"#station-{third}")).to_be_checked()
    expect(page.locator("#stationCount")).to_have_text("3 selected")
    expect(page.locator("#stationMap .marker.picked")).to_have_count(3)
    expect(page.locator("#stationMapPhone .marker.picked")).to_have_count(3)  # the phone layout
    page.locator("#createEntries").fill("4")
    page.locator("#createValues").fill("3")
    page.locator("#createFee").fill("2000")
    screenshots(page, "admin-create")
    assert unlabelled_controls(page) == []
    page.locator("#createSubmit").click()
    created = page.locator("#createResult .notice")
    expect(created).to_contain_text("Created competition", timeout=30_000)
    competition_id = created.locator("code").inner_text()

    # The players see it.
    public = page.context.new_page()
    public.goto(stack.coordinator.url + "/competitions")
    expect(public.locator(f"tr[data-competition-id='{competition_id}']")).to_contain_text(
        "Registration"
    )
    public.close()

    created.locator("a").click()
    expect(page.locator("#adminCompetition")).to_contain_text(competition_id)
    expect(page.locator("#stateHistory li").first).to_be_visible()
    screenshots(page, "admin-competition")
    assert unlabelled_controls(page) == []
    page.locator("#cancelSubmit").click()
    expect(page.locator("#cancelResult")).to_contain_text("Cancelled", timeout=30_000)
    page.reload()
    expect(page.locator("#adminCompetition .tag")).to_have_text("cancelled")
    assert recorder.foreign_requests() == []


def test_station_selector_on_a_phone(page: Page, stack: DevnetStack, recorder: Recorder) -> None:
    """The phone layout of the selector's map: readable labels, 24 px tap targets, no
    sideways scrolling, and a tap on a station ticks it in the list."""
    page.set_viewport_size({"width": 375, "height": 812})
    admin_log_in(page, stack)
    geometry = map_geometry(page)
    assert geometry.svg_id == "stationMapPhone"
    assert len(geometry.targets) == page.locator("input[name='locations']").count()
    assert geometry.labels and geometry.smallest_label >= 11, geometry.labels
    assert geometry.smallest_target >= 24, geometry.targets
    assert geometry.overflow <= 0
    tappable = page.evaluate(TAPPABLE)
    assert tappable is not None
    station, x, y = tappable
    page.mouse.click(x, y)
    expect(page.locator(f"#station-{station}")).to_be_checked()
    expect(page.locator("#stationCount")).to_have_text("1 selected")
    expect(page.locator(f".station-map .marker.picked[data-station='{station}']")).to_have_count(2)
    for theme in ("light", "dark"):
        page.evaluate("(t) => { document.documentElement.dataset.theme = t; }", theme)
        screenshot(page, f"admin-stations-375-{theme}")
    assert recorder.foreign_requests() == []


def test_wallet_page(page: Page, stack: DevnetStack, recorder: Recorder) -> None:
    recorder.expect_status(400)  # the refused send
    admin_log_in(page, stack)
    page.locator("#navAdminWallet").click()
    expect(page.locator("#walletTitle")).to_be_visible()
    assert unlabelled_controls(page) == []
    expect(page.locator("#walletBalance")).to_contain_text("Confirmed")
    expect(page.locator("#walletAddress")).to_have_text(__import__("re").compile("^bcrt1"))
    page.locator("#sendAddress").fill("bcrt1qnotanaddress000000000000000000")
    page.locator("#sendAmount").fill("1000")
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#sendSubmit").click()
    expect(page.locator("#sendResult")).to_contain_text("Not sent")
    screenshots(page, "admin-wallet")
    assert recorder.foreign_requests() == []
