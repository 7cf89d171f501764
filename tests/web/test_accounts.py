"""Accounts in Chromium against a real coordinator (``coordinator serve`` on the devnet stack).

Sign-up, login, logout, wrong password, taken username and a NIP-07 extension account, all
through the browser module and the coordinator's users API; the account's key and wallet seed
are then used from Python exactly as another client would.
"""

from __future__ import annotations

import re
import secrets

import httpx
from playwright.sync_api import Page, expect

from coordinator_core import nip44
from coordinator_core.nip98 import build_auth_header
from coordinator_core.nostr import nsec_decode
from tests.support.stack import DevnetStack
from tests.web.conftest import Recorder

PASSWORD = "Str0ng!Passw0rd"


def _open(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("body[data-ready='true']")).to_be_attached()


def _sign_up(page: Page, username: str, password: str = PASSWORD) -> str:
    page.locator("#signupButton").click()
    page.locator("#signupUsername").fill(username)
    page.locator("#signupPassword").fill(password)
    page.locator("#signupConfirm").fill(password)
    page.locator("#signupNext").click()
    nsec = page.locator("#signupNsec").inner_text()
    page.locator("#signupBackedUp").check()
    page.locator("#signupComplete").click()
    return nsec


def _log_in(page: Page, username: str, password: str) -> None:
    page.locator("#loginButton").click()
    page.locator("#loginUsername").fill(username)
    page.locator("#loginPassword").fill(password)
    page.locator("#loginSubmit").click()


def _name() -> str:
    return "u" + secrets.token_hex(5)


def test_sign_up_log_out_and_log_in_again(page: Page, stack: DevnetStack) -> None:
    _open(page, stack.coordinator.url)
    username = _name()
    nsec = _sign_up(page, username)
    assert re.fullmatch(r"nsec1[02-9ac-hj-np-z]{58}", nsec)
    expect(page.locator("#accountName")).to_have_text(username, timeout=60_000)
    expect(page.locator("#logoutButton")).to_be_visible()
    expect(page.locator("#loginButton")).to_be_hidden()
    expect(page.locator("#signupButton")).to_be_hidden()
    page.locator("#logoutButton").click()
    expect(page.locator("#loginButton")).to_be_visible()
    expect(page.locator("#signupButton")).to_be_visible()
    _log_in(page, username, PASSWORD)
    expect(page.locator("#accountName")).to_have_text(username, timeout=60_000)
    for link, section in (("#navEntries", "#allEntries"), ("#navPayouts", "#payouts"),
                          ("#navCompetitions", "#allCompetitions")):  # fmt: skip
        page.locator(link).click()
        expect(page.locator(section)).to_be_visible()

    # The key shown at sign-up is the account's key: another client logs in with it and
    # opens the wallet seed encrypted to itself.
    secret = nsec_decode(nsec)
    url = stack.coordinator.url + "/api/v1/users/login"
    answer = httpx.post(url, headers={"Authorization": build_auth_header(secret, url, "POST")})
    assert answer.status_code == 201, answer.text
    user = answer.json()
    assert user["network"] == "regtest" and user["username"] == username
    seed = nip44.decrypt_from_self(secret, user["encrypted_bitcoin_private_key"])
    assert re.fullmatch(r"[0-9a-f]{64}", seed)


def test_wrong_password_is_refused(page: Page, stack: DevnetStack, recorder: Recorder) -> None:
    recorder.expect_status(401)  # the wrong password's login attempt
    _open(page, stack.coordinator.url)
    username = _name()
    _sign_up(page, username)
    expect(page.locator("#logoutButton")).to_be_visible(timeout=30_000)
    page.locator("#logoutButton").click()
    _log_in(page, username, PASSWORD + "x")
    expect(page.locator("#loginError")).to_have_text(re.compile("invalid|password", re.I),
                                                     timeout=30_000)  # fmt: skip
    expect(page.locator("#logoutButton")).to_be_hidden()


def test_taken_username_is_reported_and_the_first_password_still_works(
    page: Page, stack: DevnetStack, recorder: Recorder
) -> None:
    recorder.expect_status(401)  # the second sign-up's login attempt with the other password
    _open(page, stack.coordinator.url)
    username = _name()
    _sign_up(page, username)
    expect(page.locator("#logoutButton")).to_be_visible(timeout=30_000)
    page.locator("#logoutButton").click()
    _sign_up(page, username, "An0ther!Passw0rd")
    expect(page.locator("#signupError2")).to_contain_text("taken", timeout=30_000)
    page.keyboard.press("Escape")
    _log_in(page, username, PASSWORD)
    expect(page.locator("#accountName")).to_have_text(username, timeout=60_000)


def test_forgotten_password_is_reset_with_the_saved_key(
    page: Page, stack: DevnetStack, recorder: Recorder
) -> None:
    recorder.expect_status(401)  # the wrong password's login attempt
    _open(page, stack.coordinator.url)
    username = _name()
    nsec = _sign_up(page, username)
    expect(page.locator("#logoutButton")).to_be_visible(timeout=30_000)
    page.locator("#logoutButton").click()
    page.locator("#loginButton").click()
    page.locator("#forgotPasswordLink").click()
    expect(page.locator("#forgotUsername")).to_be_visible()
    page.locator("#forgotUsername").fill(username)
    page.locator("#forgotNsec").fill(nsec)
    page.locator("#forgotPassword").fill("N3w!Passw0rd!")
    page.locator("#forgotConfirm").fill("N3w!Passw0rd!")
    page.locator("#forgotSubmit").click()
    expect(page.locator("#loginDialog")).to_be_visible(timeout=30_000)
    expect(page.locator("#notice")).to_contain_text("new password is set")
    page.locator("#loginPassword").fill(PASSWORD)
    page.locator("#loginSubmit").click()
    expect(page.locator("#loginError")).to_contain_text("Invalid", timeout=30_000)
    page.locator("#loginPassword").fill("N3w!Passw0rd!")
    page.locator("#loginSubmit").click()
    expect(page.locator("#accountName")).to_have_text(username, timeout=60_000)


EXTENSION = """
window.nostr = {
  _signer: null,
  _get() { this._signer ??= window.forecastCore.LocalSigner.generate(); return this._signer; },
  async getPublicKey() { return this._get().pubkey; },
  async signEvent(template) { return this._get().signEvent(template); },
  nip44: {
    async encrypt(pubkey, text) { return window.nostr._get().encryptToSelf(text); },
    async decrypt(pubkey, payload) { return window.nostr._get().decryptFromSelf(payload); },
  },
};
"""


def test_extension_account_signs_up_and_logs_in(page: Page, stack: DevnetStack) -> None:
    page.add_init_script(EXTENSION)
    _open(page, stack.coordinator.url)
    page.locator("#signupButton").click()
    page.locator("#signupTabExtension").click()
    page.locator("#extensionSignup").click()
    expect(page.locator("#logoutButton")).to_be_visible(timeout=30_000)
    page.locator("#navEntries").click()
    expect(page.locator("#allEntries")).to_be_visible()
    page.locator("#logoutButton").click()
    page.locator("#loginButton").click()
    page.locator("#loginTabExtension").click()
    page.locator("#extensionLogin").click()
    expect(page.locator("#logoutButton")).to_be_visible(timeout=30_000)
