"""No secret goes to an enclave whose attestation does not verify; configuration rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.adapters.signer.keymeld import EnclaveAttestationError, KeymeldSigner
from coordinator.config import load_settings
from coordinator.domain.keys import CoordinatorKeys
from coordinator_core.errors import ConfigError
from coordinator_core.keymeld.attestation import EnclaveTrust
from coordinator_core.nitro import AttestationTrust, PcrPolicy
from devnet.signer.attestation import DEVNET_PCR0, DEVNET_PCR0_HEX, AttestationIssuer
from tests.signer.conftest import CheckpointStore, make_signer, new_competition
from tests.support.signer import SignerHandle


@pytest.mark.parametrize(
    ("trust", "check"),
    [
        (
            EnclaveTrust(
                AttestationTrust(PcrPolicy({0: DEVNET_PCR0}), AttestationIssuer.create().trust_root)
            ),
            "chain",
        ),
        (None, "pcr"),
    ],
    ids=["another-root", "another-pcr0"],
)
async def test_unattested_enclaves_get_no_session_secret(
    gateway: SignerHandle,
    keys: CoordinatorKeys,
    store: CheckpointStore,
    trust: EnclaveTrust | None,
    check: str,
) -> None:
    if trust is None:  # the devnet root, but a PCR0 pin of another image
        trust = EnclaveTrust(
            AttestationTrust(PcrPolicy({0: b"\x01" * 48}), gateway.trust().trust.trust_root)
        )
    signer = make_signer(gateway, keys)
    signer.trust = trust
    competition = new_competition(keys, 2, 1)
    before = gateway.stats()["keygen_states"]
    with pytest.raises(EnclaveAttestationError, match=f"not attested \\({check}\\)"):
        await signer.open_keygen(competition.keygen_request(), store.checkpoint)
    # K1 reserved a session, but K2 (the session secret) was never sent.
    after = gateway.stats()["keygen_states"]
    assert after.pop("reserved") == before.pop("reserved", 0) + 1
    assert after == before
    assert store.writes == 0
    await signer.aclose()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_production_refuses_another_root_and_a_missing_pin(tmp_path: Path) -> None:
    base = 'profile = "production"\n[bitcoin]\nnetwork = "signet"\n'
    pin = f'pcr_pins = {{ PCR0 = "{DEVNET_PCR0_HEX}" }}\n'
    with pytest.raises(ConfigError, match=r"keymeld\.pcr_pins: enclave attestation needs a PCR"):
        load_settings(write(tmp_path, base), env={})
    root = write(tmp_path, base + "[keymeld]\n" + pin + 'attestation_trust_root_file = "r.pem"\n')
    with pytest.raises(ConfigError, match="AWS Nitro Root G1 only"):
        load_settings(root, env={})
    zero = base + '[keymeld]\npcr_pins = { PCR0 = "' + "00" * 48 + '" }\n'
    with pytest.raises(ConfigError, match="all zero"):
        load_settings(write(tmp_path, zero), env={})
    settings = load_settings(write(tmp_path, base + "[keymeld]\n" + pin), env={})
    signer = KeymeldSigner.from_settings(
        settings.keymeld, settings.profile, CoordinatorKeys(bytes(32))
    )
    assert signer.trust.trust.trust_root.sha256.startswith("641a0321")


def test_development_without_a_pin_cannot_build_the_signer(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, '[keymeld]\ngateway_url = "http://127.0.0.1:1"\n'), env={}
    )
    with pytest.raises(ConfigError, match="PCR policy"):
        KeymeldSigner.from_settings(settings.keymeld, settings.profile, CoordinatorKeys(bytes(32)))


def test_the_devnet_limits_bound_the_client_limits(tmp_path: Path) -> None:
    text = "[keymeld]\nmax_subsets = 300\n[devnet]\n"
    with pytest.raises(
        ConfigError, match="max_subsets exceeds the devnet gateway's signer_max_subsets"
    ):
        load_settings(write(tmp_path, text), env={})


async def test_a_production_coordinator_cannot_use_the_devnet_gateway(
    gateway: SignerHandle, keys: CoordinatorKeys, store: CheckpointStore
) -> None:
    """Production trusts only the AWS Nitro Root G1: devnet enclaves never get a secret."""
    text = (
        'profile = "production"\n[bitcoin]\nnetwork = "signet"\n[keymeld]\n'
        f'gateway_url = "{gateway.url}"\npcr_pins = {{ PCR0 = "{DEVNET_PCR0_HEX}" }}\n'
    )
    path = gateway.data_dir.parent / "production.toml"
    path.write_text(text)
    settings = load_settings(path, env={})
    signer = KeymeldSigner.from_settings(settings.keymeld, settings.profile, keys)
    with pytest.raises(EnclaveAttestationError, match=r"not attested \(chain\)"):
        await signer.open_keygen(new_competition(keys, 2, 1).keygen_request(), store.checkpoint)
    assert store.writes == 0
    await signer.aclose()
