"""One seed, one key per role.

The coordinator keeps a single 32-byte seed (``[coordinator] private_key_file``). Every key it
uses is derived from that seed with its own domain-separated tagged hash, so a key handed to one
role (an enclave, a wallet backend, a relay) reveals nothing about the others, and one
competition's market-maker key reveals nothing about another's:

- **identity** ``H("ForecastCoordinator/identity")(seed)``: NIP-98 requests to the oracle,
  ``coordinator_metadata``, NIP-44.
- **wallet root** ``H("ForecastCoordinator/wallet-root")(seed)``: the BDK wallet's BIP-32 root
  (funding, change, sweeps).
- **market maker** ``H("ForecastCoordinator/market-maker")(seed ‖ competition id)``: one
  competition's DLC key, sealed into its signing enclave.
- **signer credential** ``H("ForecastCoordinator/signer/" ‖ purpose)(seed ‖ scope)``:
  signing-gateway credentials (authority key, keymeld user key).
- **at-rest key** ``H("ForecastCoordinator/at-rest/" ‖ purpose)(seed)``: symmetric keys sealing
  secrets stored in the databases.

``H_tag(x)`` is the BIP-340 tagged hash.

Secret scalars are reduced into ``[1, n-1]``; the chance of a tagged hash landing on 0 or ≥ n is
about 2^-128, and the derivation then re-hashes with a counter rather than failing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Final

from ticketdlc.crypto.bip340 import xonly_pubkey
from ticketdlc.crypto.secp import CURVE_ORDER, tagged_hash
from ticketdlc.typed_bytes import SecretKey

_PREFIX: Final = "ForecastCoordinator/"


def _secret_scalar(tag: str, message: bytes) -> SecretKey:
    counter = 0
    while True:
        suffix = b"" if counter == 0 else counter.to_bytes(4, "big")
        candidate = tagged_hash(tag, message + suffix)
        if 0 < int.from_bytes(candidate, "big") < CURVE_ORDER:
            return SecretKey(candidate)
        counter += 1


def _purpose(purpose: str) -> str:
    if not purpose or not all(c.isalnum() or c in "-_." for c in purpose):
        raise ValueError(f"key purpose must be a short [A-Za-z0-9._-] name, got {purpose!r}")
    return purpose


@dataclass(frozen=True)
class CoordinatorKeys:
    """Every key of the coordinator, derived on demand from its seed."""

    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise ValueError("the coordinator seed is 32 bytes")

    @property
    def identity_secret(self) -> SecretKey:
        """The nostr identity: NIP-98 to the oracle, NIP-44, the coordinator's public name."""
        return _secret_scalar(_PREFIX + "identity", self.seed)

    @property
    def identity_pubkey_hex(self) -> str:
        """Hex x-only public key of the identity (``coordinator_metadata.pubkey``)."""
        return xonly_pubkey(self.identity_secret).hex()

    @property
    def legacy_pubkey_hex(self) -> str:
        """Hex x-only key of the seed itself: the identity of the earlier single-key layout,
        in which the seed was also the wallet's BIP-32 root."""
        return xonly_pubkey(self.seed).hex()

    @property
    def wallet_root_secret(self) -> SecretKey:
        """The private key of the on-chain wallet's BIP-32 root."""
        return _secret_scalar(_PREFIX + "wallet-root", self.seed)

    def market_maker_secret(self, competition_id: uuid.UUID | str) -> SecretKey:
        """The DLC market-maker key of one competition."""
        cid = competition_id if isinstance(competition_id, uuid.UUID) else uuid.UUID(competition_id)
        return _secret_scalar(_PREFIX + "market-maker", self.seed + cid.bytes)

    def signer_secret(self, purpose: str, scope: bytes = b"") -> SecretKey:
        """A signing-gateway credential (a secp256k1 secret), e.g. per keygen session."""
        return _secret_scalar(_PREFIX + "signer/" + _purpose(purpose), self.seed + scope)

    def at_rest_key(self, purpose: str) -> bytes:
        """A 32-byte symmetric key for sealing stored secrets of one kind."""
        return tagged_hash(_PREFIX + "at-rest/" + _purpose(purpose), self.seed)
