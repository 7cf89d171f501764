"""What the pages tell the browser to verify signing enclaves against."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from coordinator.app.web.enclave import EnclaveTrustView
from devnet.signer.attestation import DEVNET_PCR0_HEX, AttestationIssuer

PINS = {"PCR0": DEVNET_PCR0_HEX}


def _view(profile: str, root_file: Path | None) -> dict[str, object]:
    settings = SimpleNamespace(
        profile=profile,
        keymeld=SimpleNamespace(pcr_pins=PINS, attestation_trust_root_file=root_file),
    )
    shown: dict[str, object] = json.loads(EnclaveTrustView(settings).json())  # type: ignore[arg-type]
    return shown


def test_non_production_pages_name_the_configured_root(tmp_path: Path) -> None:
    issuer = AttestationIssuer.create()
    root = tmp_path / "root.pem"
    assert _view("test", root) == {"profile": "test", "pcr_pins": PINS, "root_pem": None}
    root.write_text(issuer.root_pem)  # written later, as the devnet gateway does at start
    shown = _view("development", root)
    assert shown["root_pem"] == issuer.trust_root.pem() and shown["pcr_pins"] == PINS


def test_production_pages_never_name_a_root(tmp_path: Path) -> None:
    root = tmp_path / "root.pem"
    root.write_text(AttestationIssuer.create().root_pem)
    assert _view("production", root) == {
        "profile": "production",
        "pcr_pins": PINS,
        "root_pem": None,
    }
