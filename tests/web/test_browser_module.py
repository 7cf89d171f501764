"""The browser module's functions, run in Chromium next to the Python implementation.

Each check feeds the same inputs to the bundled JavaScript (``window.forecastCore``) and to
the coordinator's Python code and compares the bytes, or checks that the browser refuses what
the Python side refuses.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid

import pytest
from playwright.sync_api import Page

from coordinator_core import nip44
from coordinator_core.bolt11 import (
    BitcoinNetwork,
    InvalidInvoiceError,
    check_invoice,
    decode_invoice,
)
from coordinator_core.entry_keys import derive_entry_keys
from coordinator_core.ids import uuid7
from coordinator_core.nip98 import Nip98Error, verify_auth_header
from devnet.lightning.invoices import encode_invoice
from tests.web.conftest import Site
from ticketdlc.crypto import bip340
from ticketdlc.crypto.secp import tagged_hash


def python_entry_keys(seed: bytes, network: BitcoinNetwork, entry_id: uuid.UUID) -> dict[str, str]:
    keys = derive_entry_keys(seed, network, entry_id)
    return {
        "secret": keys.secret.hex(),
        "pubkey": keys.pubkey_hex,
        "preimage": keys.payout_preimage.hex(),
        "hash": keys.payout_hash.hex(),
    }


NETWORKS: tuple[BitcoinNetwork, ...] = ("bitcoin", "testnet", "signet", "regtest")


@pytest.fixture
def core(page: Page, site: Site) -> Page:
    page.goto(site.url + "/help")
    page.wait_for_function("window.forecastCore !== undefined")
    return page


JS_ENTRY_KEYS = """([seed, network, entryId]) => {
  const c = window.forecastCore;
  const k = c.deriveEntryKeys(c.fromHex(seed), network, entryId);
  return {secret: c.toHex(k.secret), pubkey: k.pubkeyHex, preimage: c.toHex(k.payoutPreimage),
          hash: c.toHex(k.payoutHash)};
}"""


def test_entry_keys_match_python(core: Page) -> None:
    cases = [(os.urandom(32), network, uuid7()) for network in NETWORKS for _ in range(3)]
    cases.append((bytes(32), "regtest", uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")))
    for seed, network, entry_id in cases:
        js = core.evaluate(JS_ENTRY_KEYS, [seed.hex(), network, str(entry_id)])
        assert js == python_entry_keys(seed, network, entry_id)


def test_entry_keys_differ_by_entry_and_network(core: Page) -> None:
    seed, entry_id = os.urandom(32), uuid7()
    regtest = core.evaluate(JS_ENTRY_KEYS, [seed.hex(), "regtest", str(entry_id)])
    signet = core.evaluate(JS_ENTRY_KEYS, [seed.hex(), "signet", str(entry_id)])
    other = core.evaluate(JS_ENTRY_KEYS, [seed.hex(), "regtest", str(uuid7())])
    assert len({regtest["secret"], signet["secret"], other["secret"]}) == 3


def test_entry_and_payout_bodies_match_the_player_client(core: Page) -> None:
    seed, entry_id, ticket_id, competition_id = os.urandom(32), uuid7(), uuid7(), uuid7()
    picks = [{"stations": "KORD", "temp_high": "Over"}, {"stations": "KJFK", "wind_speed": "Par"}]
    nostr_secret = os.urandom(32)
    bodies = core.evaluate(
        """async ([seed, entryId, ticketId, competitionId, picks, secret]) => {
          const c = window.forecastCore;
          const keys = c.deriveEntryKeys(c.fromHex(seed), 'regtest', entryId);
          const ticket = {entry_id: entryId, ticket_id: ticketId};
          const signer = new c.LocalSigner(c.fromHex(secret));
          const sealed = await c.sealEntrySecrets(signer, keys);
          return [JSON.stringify(c.entryBody(ticket, competitionId, keys, picks, sealed)),
                  JSON.stringify(c.payoutBody(ticketId, keys, 'lnbcrt1'))];
        }""",
        [seed.hex(), str(entry_id), str(ticket_id), str(competition_id), picks, nostr_secret.hex()],
    )
    keys = python_entry_keys(seed, "regtest", entry_id)
    sent = json.loads(bodies[0])
    # The secrets are NIP-44-encrypted to the player's own key (random nonces): they open in
    # Python to the entry key and payout preimage.
    assert (
        nip44.decrypt_from_self(nostr_secret, sent["ephemeral_privatekey_encrypted"])
        == (keys["secret"])
    )
    assert (
        nip44.decrypt_from_self(nostr_secret, sent["payout_preimage_encrypted"])
        == (keys["preimage"])
    )
    entry = {
        "id": str(entry_id),
        "ticket_id": str(ticket_id),
        "event_id": str(competition_id),
        "ephemeral_pubkey": keys["pubkey"],
        "ephemeral_privatekey_encrypted": sent["ephemeral_privatekey_encrypted"],
        "payout_hash": keys["hash"],
        "payout_preimage_encrypted": sent["payout_preimage_encrypted"],
        "expected_observations": picks,
    }
    payout = {
        "ticket_id": str(ticket_id),
        "payout_preimage": keys["preimage"],
        "ephemeral_private_key": keys["secret"],
        "ln_invoice": "lnbcrt1",
    }
    assert bodies == [
        json.dumps(entry, separators=(",", ":")),
        json.dumps(payout, separators=(",", ":")),
    ]


JS_NIP98 = """async ([secret, url, method, body]) => {
  const c = window.forecastCore;
  return c.nip98Header(new c.LocalSigner(c.fromHex(secret)), url, method, body);
}"""


def test_nip98_headers_verify_in_python_with_the_payload_hash(core: Page) -> None:
    secret = os.urandom(32)
    url = "http://127.0.0.1:9990/api/v1/entries"
    body = json.dumps({"id": str(uuid7()), "note": "naïve ☃"}, separators=(",", ":"))
    header = core.evaluate(JS_NIP98, [secret.hex(), url, "post", body])
    auth = verify_auth_header(header, url, "POST", body.encode())
    assert auth.pubkey == bip340.xonly_pubkey(secret).hex()
    with pytest.raises(Nip98Error) as refused:
        verify_auth_header(header, url, "POST", body.encode() + b" ")
    assert refused.value.code == "invalid_payload"
    get_header = core.evaluate(JS_NIP98, [secret.hex(), url, "get", None])
    assert verify_auth_header(get_header, url, "GET", b"").pubkey == auth.pubkey


def _invoice(amount_msat: int | None, currency: str = "bcrt", expiry: int = 600,
             created: int | None = None) -> str:  # fmt: skip
    return encode_invoice(
        os.urandom(32),
        currency=currency,
        payment_hash=os.urandom(32),
        payment_secret=os.urandom(32),
        amount_msat=amount_msat,
        description="payout",
        created_at=int(time.time()) if created is None else created,
        expiry_secs=expiry,
    )


JS_PAYOUT_CHECK = """([invoice, network, amountSats]) => {
  try {
    window.forecastCore.checkPayoutInvoice(invoice, {network, amountSats});
    return null;
  } catch (error) { return error.message; }
}"""


def test_payout_invoice_checks_agree_with_python(core: Page) -> None:
    share = 2_500
    cases = {
        "exact": (_invoice(share * 1000), None),
        "too much": (_invoice((share + 1) * 1000), "but your share is exactly 2500 sats"),
        "too little": (_invoice(share * 1000 - 1000), "but your share is exactly 2500 sats"),
        "no amount": (_invoice(None), "has no amount"),
        "other network": (_invoice(share * 1000, currency="tb"), "another network"),
        "expired": (_invoice(share * 1000, created=int(time.time()) - 1000), "expired"),
        "garbage": ("lnbcrt1notaninvoice", "not a valid Lightning invoice"),
    }
    for name, (invoice, message) in cases.items():
        js = core.evaluate(JS_PAYOUT_CHECK, [invoice, "regtest", share])
        try:
            check_invoice(decode_invoice(invoice), network="regtest", amount_msat=share * 1000,
                          now=time.time())  # fmt: skip
            python_ok = decode_invoice(invoice).amount_msat is not None
        except InvalidInvoiceError:
            python_ok = False
        assert (js is None) == python_ok, name
        if message is not None:
            assert message in js, name


def test_entry_invoice_must_pay_the_ticket_hash(core: Page) -> None:
    invoice = _invoice(1_100_000)
    decoded = decode_invoice(invoice)
    check = """([invoice, hash]) => { try { window.forecastCore.checkEntryInvoice(invoice,
      {network: 'regtest', amountSats: 1100, paymentHash: hash}); return null; }
      catch (e) { return e.message; } }"""
    assert core.evaluate(check, [invoice, decoded.payment_hash.hex()]) is None
    assert "another hash" in core.evaluate(check, [invoice, "00" * 32])


def test_invoice_qr_code_is_an_svg_of_the_lightning_uri(core: Page) -> None:
    svg = core.evaluate("(inv) => window.forecastCore.invoiceQrSvg(inv)", _invoice(1000))
    assert svg.startswith("<svg") and "<title" in svg and "<path" in svg


def test_login_keys_match_python_scrypt_and_tagged_hashes(core: Page) -> None:
    params = {"N": 2**10, "r": 8, "p": 1, "dkLen": 32}  # the real N=2^17 is slow in tests
    username, password = "Alice_01", "Str0ng!Passw0rd"
    js = core.evaluate(
        """async ([u, p, params]) => { const c = window.forecastCore;
          const stretched = await c.stretch(u, p, params); const keys = c.loginKeys(stretched);
          const sealed = c.sealNsec(keys.vaultKey, 'nsec1example');
          let wrong = null;
          try { c.openNsec(c.loginKeys(await c.stretch(u, p + 'x', params)).vaultKey, sealed); }
          catch (e) { wrong = e.message; }
          return {stretched: c.toHex(stretched), login: keys.loginKey,
                  vault: c.toHex(keys.vaultKey), opened: c.openNsec(keys.vaultKey, sealed), wrong};
        }""",
        [username, password, params],
    )
    salt = tagged_hash("login-salt", username.lower().encode())
    stretched = hashlib.scrypt(password.encode(), salt=salt, n=2**10, r=8, p=1, dklen=32)
    assert js["stretched"] == stretched.hex()
    assert js["login"] == tagged_hash("login-auth", stretched).hex()
    assert js["vault"] == tagged_hash("login-vault", stretched).hex()
    assert js["opened"] == "nsec1example"
    assert "Wrong password" in js["wrong"]


def test_nip44_to_self_interoperates_with_python(core: Page) -> None:
    secret = os.urandom(32)
    text = "a1" * 32
    from_js = core.evaluate(
        """async ([secret, text]) => { const c = window.forecastCore;
          return new c.LocalSigner(c.fromHex(secret)).encryptToSelf(text); }""",
        [secret.hex(), text],
    )
    assert nip44.decrypt_from_self(secret, from_js) == text
    from_python = nip44.encrypt_to_self(secret, text)
    opened = core.evaluate(
        """async ([secret, payload]) => { const c = window.forecastCore;
          return new c.LocalSigner(c.fromHex(secret)).decryptFromSelf(payload); }""",
        [secret.hex(), from_python],
    )
    assert opened == text
