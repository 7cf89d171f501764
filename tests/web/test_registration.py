"""Signing-gateway registration in the browser, next to the Python player side.

The browser module's attestation verifier (``web/src/nitro.js``) must make the same decision,
at the same check, as :func:`coordinator_core.nitro.verify_attestation` on the same document:
the real AWS Nitro document of the shared vector (at its instant, at another, mutated, under
another pin or root) and devnet documents made to fail each check. The registration it seals
(``web/src/registration.js``) must be byte-identical to
:func:`coordinator_core.keymeld.registration.seal_registration` with the same ECIES randomness,
and open and check in the enclave's code.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import cbor2
import pytest
from coincurve import PrivateKey
from playwright.sync_api import Page

from coordinator_core.keymeld.attestation import EnclaveTrust
from coordinator_core.keymeld.crypto import ecies_decrypt, user_auth_pubkey
from coordinator_core.keymeld.messages import RegistrationEnvelope
from coordinator_core.keymeld.registration import SlotOffer, seal_registration
from coordinator_core.keymeld.wire import canonical
from coordinator_core.nitro import (
    AWS_NITRO_ROOT_G1,
    AttestationError,
    AttestationTrust,
    PcrPolicy,
    TrustRoot,
    verify_attestation,
)
from coordinator_core.nitro.cose import sig_structure, sign_es384
from devnet.signer.attestation import DEVNET_PCR0, DEVNET_PCRS, AttestationIssuer, sign_document
from tests.attestation.conftest import DevnetEnclave, enclave_key, now_ms
from tests.attestation.test_devnet_documents import _fields, _signed
from tests.web.conftest import Site

VECTOR = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "nitro"


@pytest.fixture
def core(page: Page, site: Site) -> Page:
    page.goto(site.url + "/help")
    page.wait_for_function("window.forecastCore !== undefined")
    return page


@pytest.fixture(scope="module")
def issuer() -> AttestationIssuer:
    return AttestationIssuer.create()


@pytest.fixture
def enclave(issuer: AttestationIssuer) -> DevnetEnclave:
    return DevnetEnclave(issuer, enclave_key(), os.urandom(32))


JS_VERIFY_MANY = """async (cases) => {
  const c = window.forecastCore;
  const { nitro } = await c.onDemand();
  const out = [];
  for (const k of cases) {
    try {
      const trust = await nitro.attestationTrust(k.profile, { pcrPins: k.pins, rootPem: k.root });
      const r = await nitro.verifyAttestation(k.hex ? k.document : c.fromHex(k.document), {
        challenge: k.challenge === null ? null : c.fromHex(k.challenge),
        expectedPublicKey: c.fromHex(k.key), trust, nowMs: k.now });
      out.push({ ok: true, key: c.toHex(r.publicKey), module: r.moduleId,
                 timestamp: r.timestampMs });
    } catch (e) {
      out.push({ ok: false, check: e.check ?? null, message: String(e.message) });
    }
  }
  return out;
}"""


def _case(
    document: bytes,
    *,
    challenge: bytes | None,
    key: bytes,
    pins: dict[str, str],
    root: TrustRoot | None,
    now: int,
    as_hex: bool = False,
) -> dict[str, Any]:
    return {
        "document": document.hex(),
        "hex": as_hex,
        "challenge": None if challenge is None else challenge.hex(),
        "key": key.hex(),
        "pins": pins,
        "root": None if root is None else root.pem(),
        "profile": "production" if root is None else "test",
        "now": now,
    }


def _python(case: dict[str, Any]) -> dict[str, Any]:
    """The Python verifier's decision on the same case."""
    root = AWS_NITRO_ROOT_G1 if case["root"] is None else TrustRoot.from_pem(case["root"])
    try:
        result = verify_attestation(
            case["document"] if case["hex"] else bytes.fromhex(case["document"]),
            challenge=None if case["challenge"] is None else bytes.fromhex(case["challenge"]),
            expected_public_key=bytes.fromhex(case["key"]),
            policy=PcrPolicy.from_hex(case["pins"]),
            trust_root=root,
            now_ms=case["now"],
        )
    except AttestationError as exc:
        return {"ok": False, "check": exc.check}
    return {
        "ok": True,
        "key": result.public_key.hex(),
        "module": result.module_id,
        "timestamp": result.timestamp_ms,
    }


def _agree(core: Page, cases: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Run every case in both verifiers; they must decide the same (and at the same check)."""
    js = core.evaluate(JS_VERIFY_MANY, list(cases.values()))
    results = {}
    for (name, case), browser in zip(cases.items(), js, strict=True):
        python = _python(case)
        decided = {k: v for k, v in browser.items() if k != "message"}
        assert decided == python, f"{name}: browser {browser} / python {python}"
        results[name] = browser
    return results


# -- the real document -----------------------------------------------------------------------


def _real() -> dict[str, Any]:
    data = json.loads((VECTOR / "attestation.json").read_text())
    valid_at = dt.datetime.fromisoformat(data["valid_at"].replace("Z", "+00:00"))
    expected = data["expected"]
    return {
        "document": base64.b64decode(data["attestation_document_b64"]),
        "now": int(valid_at.timestamp()) * 1000,
        "stamp": expected["timestamp_ms"],
        "key": bytes.fromhex(expected["public_key_hex"]),
        "pcr0": expected["pcrs_hex"]["0"],
        "module": expected["module_id"],
    }


def test_real_nitro_document_against_the_bundled_aws_root(
    core: Page, issuer: AttestationIssuer
) -> None:
    real = _real()
    doc, key, now = real["document"], real["key"], real["stamp"] + 60_000
    pins = {"PCR0": real["pcr0"]}

    def case(document: bytes = doc, **changes: Any) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "challenge": None,
            "key": key,
            "pins": pins,
            "root": None,
            "now": now,
        }
        arguments.update(changes)
        return _case(document, **arguments)

    positions = (0, 5, 40, len(doc) // 3, len(doc) // 2, len(doc) - 120, len(doc) - 1)
    flipped = {
        f"flipped byte {i}": case(doc[:i] + bytes([doc[i] ^ 0x01]) + doc[i + 1 :])
        for i in positions
    }
    results = _agree(
        core,
        {
            "at its instant": case(),
            "as hex text": {**case(), "document": doc.hex(), "hex": True},
            "at the vector's valid_at": case(now=real["now"]),
            "today": case(now=now_ms()),
            "wrong pin": case(pins={"PCR0": "01" * 48}),
            "another root": case(root=issuer.trust_root),
            "another enclave key": case(key=enclave_key()),
            "a challenge it does not answer": case(challenge=os.urandom(32)),
            **flipped,
        },
    )
    assert results["at its instant"] == {
        "ok": True,
        "key": key.hex(),
        "module": real["module"],
        "timestamp": real["stamp"],
    }
    assert results["today"]["check"] == "chain"
    assert results["wrong pin"]["check"] == "pcr"
    assert results["another root"]["check"] == "chain"
    assert results["a challenge it does not answer"]["check"] == "nonce"
    assert all(not results[name]["ok"] for name in flipped)


# -- devnet documents, one check at a time ---------------------------------------------------


def test_devnet_documents_refused_at_the_same_check(core: Page, enclave: DevnetEnclave) -> None:
    stamp = now_ms()
    pins = {"PCR0": DEVNET_PCR0.hex()}
    root = enclave.issuer.trust_root

    def case(document: bytes, **changes: Any) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "challenge": enclave.challenge,
            "key": enclave.key,
            "pins": pins,
            "root": root,
            "now": stamp,
        }
        arguments.update(changes)
        return _case(document, **arguments)

    zero_pcr1 = dict(DEVNET_PCRS)
    zero_pcr1[1] = bytes(48)
    no_pcr2 = {i: v for i, v in DEVNET_PCRS.items() if i != 2}
    fields, key = _fields(enclave)
    other = enclave.issuer.leaf("other", valid_from_ms=stamp, valid_to_ms=stamp)
    payload = cbor2.dumps(fields)

    def cose(protected: bytes, unprotected: dict[Any, Any]) -> bytes:
        return cbor2.dumps(
            [protected, unprotected, payload, sign_es384(key, sig_structure(protected, payload))]
        )

    old = AttestationIssuer.create(now=dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    impostor = AttestationIssuer(enclave.issuer.root, AttestationIssuer.create().intermediate)
    results = _agree(
        core,
        {
            "fresh": case(enclave.document(timestamp_ms=stamp)),
            "tagged": case(sign_document(fields, key, tagged=True)),
            "extra pins": case(
                enclave.document(), pins={"PCR0": DEVNET_PCR0.hex(), "PCR8": DEVNET_PCRS[8].hex()}
            ),
            "wrong nonce": case(enclave.document(nonce=os.urandom(32))),
            "no nonce": case(enclave.document(nonce=None)),
            "no challenge": case(enclave.document(), challenge=None),
            "old timestamp": case(enclave.document(timestamp_ms=stamp - 301_000)),
            "future timestamp": case(enclave.document(timestamp_ms=stamp + 31_000)),
            "edge of the window": case(enclave.document(timestamp_ms=stamp - 300_000)),
            "zero debug PCR1": case(enclave.document(pcrs=zero_pcr1)),
            "missing PCR2": case(enclave.document(pcrs=no_pcr2)),
            "zero PCR0": case(
                enclave.document(pcrs={**DEVNET_PCRS, 0: bytes(48)}),
                pins={"PCR8": DEVNET_PCRS[8].hex()},
            ),
            "another key": case(enclave.document(public_key=enclave_key())),
            "no key": case(enclave.document(public_key=None)),
            "wrong pin": case(enclave.document(), pins={"PCR0": "01" * 48}),
            "AWS root": case(enclave.document(), root=None),
            "other devnet root": case(
                enclave.document(), root=AttestationIssuer.create().trust_root
            ),
            "intermediate from elsewhere": case(
                impostor.issue(public_key=enclave.key, nonce=enclave.challenge)
            ),
            "expired intermediate": case(
                old.issue(public_key=enclave.key, nonce=enclave.challenge), root=old.trust_root
            ),
            "bundle without root": case(_signed(enclave, cabundle=enclave.issuer.cabundle[1:])),
            "signed by another leaf": case(sign_document(fields, other.key)),
            "ES256 header": case(cose(cbor2.dumps({1: -7}), {})),
            "crit header": case(cose(cbor2.dumps({1: -35, 2: [1]}), {})),
            "unprotected alg": case(cose(cbor2.dumps({1: -35}), {1: -35})),
            "three items": case(cbor2.dumps([cbor2.dumps({1: -35}), {}, payload])),
            "empty digest": case(_signed(enclave, digest="SHA256")),
            "negative timestamp": case(_signed(enclave, timestamp=-1)),
            "bool timestamp": case(_signed(enclave, timestamp=True)),
            "PCR index 32": case(_signed(enclave, pcrs={**DEVNET_PCRS, 32: b"\x01" * 48})),
            "short PCR": case(_signed(enclave, pcrs={**DEVNET_PCRS, 3: b"\x01" * 32})),
            "big cabundle": case(_signed(enclave, cabundle=[b"\x01"] * 11)),
            "float field": case(_signed(enclave, x=1.5)),
            "tag field": case(_signed(enclave, x=cbor2.CBORTag(1, 0))),
            "unknown field": case(_signed(enclave, future_field=[1, 2])),
            "trailing byte": case(enclave.document() + b"\x00"),
            "empty": case(b""),
        },
    )
    expected = {
        "fresh": None,
        "tagged": None,
        "extra pins": None,
        "edge of the window": None,
        "unknown field": None,
        "wrong nonce": "nonce",
        "no nonce": "nonce",
        "no challenge": "nonce",
        "old timestamp": "timestamp",
        "future timestamp": "timestamp",
        "zero debug PCR1": "debug",
        "missing PCR2": "debug",
        "zero PCR0": "debug",
        "another key": "public-key",
        "no key": "public-key",
        "wrong pin": "pcr",
        "AWS root": "chain",
        "other devnet root": "chain",
        "intermediate from elsewhere": "chain",
        "expired intermediate": "chain",
        "bundle without root": "chain",
        "signed by another leaf": "signature",
        "ES256 header": "cose-header",
        "crit header": "cose-header",
        "unprotected alg": "cose-header",
        "three items": "cose",
        "empty digest": "payload",
        "negative timestamp": "payload",
        "bool timestamp": "payload",
        "PCR index 32": "payload",
        "short PCR": "payload",
        "big cabundle": "payload",
        "float field": "payload",
        "tag field": "payload",
        "trailing byte": "cose",
        "empty": "input",
    }
    assert {name: r.get("check") for name, r in results.items()} == expected


JS_TRUST = """async ([profile, pins, root]) => {
  const { nitro } = await window.forecastCore.onDemand();
  try { const t = await nitro.attestationTrust(profile, { pcrPins: pins, rootPem: root });
        return { root: t.trustRoot.sha256, aws: t.trustRoot.isAwsNitroRoot }; }
  catch (e) { return { error: e.message }; }
}"""


def test_trust_follows_the_profile_rule(core: Page, issuer: AttestationIssuer) -> None:
    pins = {"PCR0": DEVNET_PCR0.hex()}
    aws = core.evaluate(JS_TRUST, ["production", pins, None])
    assert aws == {"root": AWS_NITRO_ROOT_G1.sha256, "aws": True}
    refused = core.evaluate(JS_TRUST, ["production", pins, issuer.trust_root.pem()])
    assert "AWS Nitro Root G1 only" in refused["error"]
    devnet = core.evaluate(JS_TRUST, ["development", pins, issuer.trust_root.pem()])
    assert devnet == {"root": issuer.trust_root.sha256, "aws": False}
    assert "PCR policy" in core.evaluate(JS_TRUST, ["test", {}, None])["error"]
    assert "PCR0" in core.evaluate(JS_TRUST, ["test", {"PCR4": "01" * 48}, None])["error"]
    assert "all zero" in core.evaluate(JS_TRUST, ["test", {"PCR0": "00" * 48}, None])["error"]


# -- sealing ---------------------------------------------------------------------------------

JS_SEAL = """async ([slot, secret, pins, root, now, ephemeral, nonce]) => {
  const c = window.forecastCore;
  const { nitro, registration } = await c.onDemand();
  const trust = await nitro.attestationTrust('test', { pcrPins: pins, rootPem: root });
  const parsed = registration.parseSlot(slot);
  const opts = { nowMs: now, ephemeralSecret: ephemeral && c.fromHex(ephemeral),
                 nonce: nonce && c.fromHex(nonce) };
  try {
    const sealed = await registration.sealRegistration(parsed, c.fromHex(secret), trust, opts);
    return { sealed, envelope: registration.envelopeJson(parsed, c.fromHex(secret)),
             auth: c.toHex(registration.userAuthPubkey(c.fromHex(secret),
                                                       parsed.keygenSessionId)) };
  } catch (e) { return { error: e.message, check: e.check ?? null }; }
}"""


def _offer(enclave: DevnetEnclave, **changes: Any) -> SlotOffer:
    arguments: dict[str, Any] = {
        "keygen_session_id": str(uuid.uuid4()),
        "manifest_hash": os.urandom(32),
        "user_id": str(uuid.uuid4()),
        "enclave_id": 1,
        "enclave_key_epoch": 3,
        "require_signing_approval": False,
        "enclave_public_key": enclave.key,
        "attestation_document": enclave.document(),
        "attestation_nonce": enclave.challenge,
    }
    arguments.update(changes)
    return SlotOffer(**arguments)


def test_sealed_registration_is_byte_identical_to_python(
    core: Page, issuer: AttestationIssuer
) -> None:
    pins = {"PCR0": DEVNET_PCR0.hex()}
    trust = EnclaveTrust(AttestationTrust(PcrPolicy.from_hex(pins), issuer.trust_root))
    for approval in (False, True):
        enclave_secret = PrivateKey()
        key = bytes(enclave_secret.public_key.format(compressed=True))
        enclave = DevnetEnclave(issuer, key, os.urandom(32))
        offer = _offer(enclave, require_signing_approval=approval, enclave_key_epoch=2**40)
        secret, ephemeral, nonce = os.urandom(32), os.urandom(32), os.urandom(12)
        now = now_ms()
        python = seal_registration(
            offer, secret, trust, now_ms=now, ephemeral_secret=ephemeral, nonce=nonce
        )
        js = core.evaluate(
            JS_SEAL,
            [
                offer.to_json(),
                secret.hex(),
                pins,
                issuer.trust_root.pem(),
                now,
                ephemeral.hex(),
                nonce.hex(),
            ],
        )
        assert js["sealed"] == python.to_json()
        assert js["auth"] == user_auth_pubkey(secret, offer.keygen_session_id).hex()
        # The envelope plaintext: Python's bytes, which the enclave opens and checks.
        sealed = bytes.fromhex(js["sealed"]["encrypted_envelope"])
        plaintext = ecies_decrypt(enclave_secret.secret, sealed)
        assert plaintext == js["envelope"].encode()
        envelope = RegistrationEnvelope.from_json(json.loads(plaintext))
        envelope.check()  # key, auth key derivation and proof of possession
        assert canonical(envelope.to_json()) == plaintext

    # With fresh randomness the ciphertext differs, and still opens and checks.
    enclave_secret = PrivateKey()
    key = bytes(enclave_secret.public_key.format(compressed=True))
    offer = _offer(DevnetEnclave(issuer, key, os.urandom(32)))
    secret = os.urandom(32)
    fresh = core.evaluate(
        JS_SEAL,
        [offer.to_json(), secret.hex(), pins, issuer.trust_root.pem(), now_ms(), None, None],
    )
    sealed = bytes.fromhex(fresh["sealed"]["encrypted_envelope"])
    opened = ecies_decrypt(enclave_secret.secret, sealed)
    RegistrationEnvelope.from_json(json.loads(opened)).check()


def test_nothing_is_sealed_to_an_enclave_that_does_not_verify(
    core: Page, enclave: DevnetEnclave
) -> None:
    pins = {"PCR0": DEVNET_PCR0.hex()}
    root = enclave.issuer.trust_root.pem()
    for offer, check in (
        (_offer(enclave, attestation_document=enclave.document(nonce=os.urandom(32))), "nonce"),
        (
            _offer(enclave, attestation_document=enclave.document(public_key=enclave_key())),
            "public-key",
        ),
        (
            _offer(enclave, attestation_document=enclave.document(timestamp_ms=now_ms() - 400_000)),
            "timestamp",
        ),
    ):
        js = core.evaluate(
            JS_SEAL, [offer.to_json(), os.urandom(32).hex(), pins, root, now_ms(), None, None]
        )
        assert "sealed" not in js and js["check"] == check, js
