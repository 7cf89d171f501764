"""Which enclaves to trust: pinned PCR measurements, and the trust root a profile may use.

A policy pins PCR0 (the enclave image) or PCR8 (the image's signing certificate), optionally
more; every pin is 48 non-zero bytes at an index ≤ 31. :func:`attestation_trust` turns
configuration values into a policy and a trust root, and holds the one rule about roots: the
production profile always uses the bundled AWS Nitro Root G1; only the development and test
profiles may name another root file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final, NamedTuple

from coordinator_core.errors import ConfigError
from coordinator_core.nitro.trust import AWS_NITRO_ROOT_G1, TrustRoot

PCR_BYTES: Final = 48
MAX_PCR_INDEX: Final = 31
IDENTITY_PCRS: Final = (0, 8)  # image, image signer: a policy pins at least one
NON_PRODUCTION_PROFILES: Final = frozenset({"development", "test"})

_PCR_NAME = re.compile(r"(?:PCR)?([0-9]{1,2})")
_HEX = re.compile(r"[0-9a-fA-F]*")


@dataclass(frozen=True)
class PcrPolicy:
    """Pinned PCR values, by index."""

    pins: Mapping[int, bytes]

    def __post_init__(self) -> None:
        pins = dict(self.pins)
        if not any(index in pins for index in IDENTITY_PCRS):
            raise ConfigError("an attestation policy must pin PCR0 (image) or PCR8 (image signer)")
        for index, value in pins.items():
            if type(index) is not int or not 0 <= index <= MAX_PCR_INDEX:
                raise ConfigError(f"PCR index must be 0..{MAX_PCR_INDEX}, got {index!r}")
            if not isinstance(value, bytes) or len(value) != PCR_BYTES:
                raise ConfigError(f"PCR{index} pin must be {PCR_BYTES} bytes")
            if not any(value):
                raise ConfigError(f"PCR{index} pin is all zero (a debug-mode measurement)")
        object.__setattr__(self, "pins", MappingProxyType(dict(sorted(pins.items()))))

    @classmethod
    def from_hex(cls, pins: Mapping[str | int, str]) -> PcrPolicy:
        """From ``{"PCR0": "<96 hex>", "8": "…", 4: "…"}``."""
        parsed: dict[int, bytes] = {}
        for name, value in pins.items():
            index = _pcr_index(name)
            if index in parsed:
                raise ConfigError(f"PCR{index} is pinned twice")
            if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) % 2:
                raise ConfigError(f"PCR{index} pin is not hex")
            parsed[index] = bytes.fromhex(value)
        return cls(parsed)

    def to_hex(self) -> dict[str, str]:
        return {f"PCR{index}": value.hex() for index, value in self.pins.items()}


def _pcr_index(name: str | int) -> int:
    if type(name) is int:
        return name
    match = _PCR_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise ConfigError(f"not a PCR name: {name!r} (use PCR0 … PCR31)")
    return int(match.group(1))


class AttestationTrust(NamedTuple):
    """What the keymeld client verifies every enclave attestation against."""

    policy: PcrPolicy
    trust_root: TrustRoot


def attestation_trust(
    profile: str,
    *,
    pcr_pins: Mapping[str | int, str] | None,
    trust_root_file: Path | None,
) -> AttestationTrust:
    """Policy and trust root from configuration values (raises :class:`ConfigError`).

    * Every profile needs a PCR0 or PCR8 pin: without one, custody operations are refused.
    * ``production`` (and any profile not known to be non-production) always uses the bundled
      AWS Nitro Root G1 and refuses ``trust_root_file``.
    * ``development`` and ``test`` use ``trust_root_file`` when given (e.g. the devnet
      signing gateway's root), else the AWS root.
    """
    if not pcr_pins:
        raise ConfigError(
            "enclave attestation needs a PCR policy: pin PCR0 (image) or PCR8 (image signer)"
        )
    policy = PcrPolicy.from_hex(pcr_pins)
    if trust_root_file is None:
        return AttestationTrust(policy, AWS_NITRO_ROOT_G1)
    if profile not in NON_PRODUCTION_PROFILES:
        raise ConfigError(
            f"the {profile} profile verifies enclaves against the pinned AWS Nitro Root G1 only;"
            " remove the attestation trust root file"
        )
    return AttestationTrust(policy, TrustRoot.from_file(trust_root_file))
