"""PCR policies and the profile rule for trust roots (one place: ``attestation_trust``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator_core.errors import ConfigError
from coordinator_core.nitro import AWS_NITRO_ROOT_G1, PcrPolicy, TrustRoot, attestation_trust

PCR0 = "11" * 48
PCR8 = "22" * 48


def test_policy_needs_pcr0_or_pcr8() -> None:
    assert PcrPolicy({0: b"\x01" * 48}).pins[0] == b"\x01" * 48
    assert PcrPolicy({8: b"\x01" * 48, 4: b"\x02" * 48}).to_hex() == {
        "PCR4": "02" * 48,
        "PCR8": "01" * 48,
    }
    with pytest.raises(ConfigError, match=r"PCR0 .* or PCR8"):
        PcrPolicy({})
    with pytest.raises(ConfigError, match=r"PCR0 .* or PCR8"):
        PcrPolicy({1: b"\x01" * 48, 2: b"\x01" * 48})


@pytest.mark.parametrize(
    ("pins", "reason"),
    [
        ({0: bytes(48)}, "all zero"),
        ({0: b"\x01" * 47}, "48 bytes"),
        ({0: b"\x01" * 49}, "48 bytes"),
        ({0: b"\x01" * 48, 32: b"\x01" * 48}, "0..31"),
        ({0: b"\x01" * 48, -1: b"\x01" * 48}, "0..31"),
        ({0: "01" * 48}, "48 bytes"),
    ],
)
def test_policy_refuses_bad_pins(pins: dict[int, bytes], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        PcrPolicy(pins)


def test_policy_pins_cannot_be_changed_afterwards() -> None:
    source = {0: b"\x01" * 48}
    policy = PcrPolicy(source)
    source[0] = b"\x02" * 48
    assert policy.pins[0] == b"\x01" * 48
    with pytest.raises(TypeError):
        policy.pins[8] = b"\x01" * 48  # type: ignore[index]


def test_policy_from_hex_names() -> None:
    policy = PcrPolicy.from_hex({"PCR0": PCR0, "8": PCR8, 4: PCR0.upper()})
    assert set(policy.pins) == {0, 4, 8}
    for bad in ({"PCR0": "xyz"}, {"PCRx": PCR0}, {"PCR0": PCR0, "0": PCR0}, {"PCR0": PCR0 + "1"}):
        with pytest.raises(ConfigError):
            PcrPolicy.from_hex(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("profile", ["production", "development", "test", "staging"])
def test_every_profile_refuses_a_missing_pin(profile: str) -> None:
    for pins in (None, {}):
        with pytest.raises(ConfigError, match="needs a PCR policy"):
            attestation_trust(profile, pcr_pins=pins, trust_root_file=None)


def test_production_uses_the_pinned_aws_root() -> None:
    trust = attestation_trust("production", pcr_pins={"PCR0": PCR0}, trust_root_file=None)
    assert trust.trust_root is AWS_NITRO_ROOT_G1
    assert trust.policy.pins[0] == bytes.fromhex(PCR0)


@pytest.mark.parametrize("profile", ["production", "staging"])
def test_production_refuses_another_root(tmp_path: Path, profile: str) -> None:
    root_file = tmp_path / "root.pem"
    root_file.write_text(AWS_NITRO_ROOT_G1.pem())  # even the AWS root itself, named as a file
    with pytest.raises(ConfigError, match="pinned AWS Nitro Root G1 only"):
        attestation_trust(profile, pcr_pins={"PCR0": PCR0}, trust_root_file=root_file)


@pytest.mark.parametrize("profile", ["development", "test"])
def test_non_production_may_name_a_root_file(tmp_path: Path, profile: str) -> None:
    root_file = tmp_path / "root.pem"
    root_file.write_text(AWS_NITRO_ROOT_G1.pem())
    trust = attestation_trust(profile, pcr_pins={"PCR8": PCR8}, trust_root_file=root_file)
    assert trust.trust_root == AWS_NITRO_ROOT_G1
    assert attestation_trust(profile, pcr_pins={"PCR0": PCR0}, trust_root_file=None).trust_root


def test_root_file_errors_are_clear(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError, match=r"missing\.pem"):
        attestation_trust("development", pcr_pins={"PCR0": PCR0}, trust_root_file=missing)
    two = tmp_path / "two.pem"
    two.write_text(AWS_NITRO_ROOT_G1.pem() * 2)
    with pytest.raises(ConfigError, match="expected one certificate, got 2"):
        TrustRoot.from_file(two)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        TrustRoot.from_file(junk)
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    with pytest.raises(ConfigError, match="64 KiB"):
        TrustRoot.from_file(big)
