"""A competition's keymeld session state: what the lifecycle stores through ``checkpoint``.

The JSON holds public data in the clear (ids, the signed manifest, the recipient
authorization, accepted registrations, signing batches) and every credential sealed with the
``keymeld-session`` at-rest key, bound to the competition and keygen session ids: the session
secret, the signing authority, the slot credentials, and the coordinator's per-session auth key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from coordinator_core.errors import ValidationError
from coordinator_core.keymeld import crypto
from coordinator_core.keymeld.messages import (
    RecipientAuthorization,
    RegistrationAuthorization,
    SignedManifest,
)
from coordinator_core.keymeld.wire import (
    WireError,
    as_bool,
    as_hex,
    as_int,
    as_list,
    as_map,
    as_object,
    as_str,
    as_uuid,
    canonical,
    loads,
)
from coordinator_core.keymeld.wire import (
    field as required,
)
from coordinator_core.sealing import SealError, seal, unseal
from coordinator_core.validation import is_hex
from ticketdlc.typed_bytes import CompressedPubkey, SecretKey

VERSION: Final = 1
AT_REST_PURPOSE: Final = "keymeld-session"


class StateError(ValidationError):
    """A stored session state is malformed or does not open with this coordinator's key."""


@dataclass(frozen=True)
class Credentials:
    """The secrets of one keygen session (sealed at rest)."""

    session_secret: SecretKey = field(repr=False)
    authority_secret: SecretKey = field(repr=False)
    slot_secrets: Mapping[str, SecretKey] = field(repr=False)
    coordinator_auth_secret: SecretKey = field(repr=False)

    def to_json(self) -> Any:
        return {
            "session_secret": self.session_secret.hex(),
            "authority_secret": self.authority_secret.hex(),
            "slot_secrets": {u: s.hex() for u, s in sorted(self.slot_secrets.items())},
            "coordinator_auth_secret": self.coordinator_auth_secret.hex(),
        }

    @classmethod
    def from_json(cls, value: Any) -> Credentials:
        obj = as_object(value, "credentials")
        slots = as_map(required(obj, "slot_secrets", "credentials"), "slots", 100_000)
        return cls(
            _hex32(required(obj, "session_secret", "credentials")),
            _hex32(required(obj, "authority_secret", "credentials")),
            {as_uuid(u, "slots"): _hex32(s) for u, s in slots.items()},
            _hex32(required(obj, "coordinator_auth_secret", "credentials")),
        )


def _hex32(value: Any) -> SecretKey:
    text = as_str(value, "secret", 64)
    if not is_hex(text):
        raise WireError("secret: not hex")
    try:
        return crypto.secret_key(bytes.fromhex(text), "secret")
    except crypto.KeymeldCryptoError as exc:
        raise WireError(exc.message) from None


def _pubkey(value: Any) -> CompressedPubkey:
    data = as_hex(value, "pubkey", 33, 33)
    try:
        return crypto.compressed_key(data, "pubkey")
    except crypto.KeymeldCryptoError as exc:
        raise WireError(exc.message) from None


@dataclass(frozen=True)
class Batch:
    """One signing session of a contract: its id and how far it got."""

    signing_session_id: str
    start: int  # first item index
    count: int
    created: bool = False  # S1 sent (maybe accepted): if the gateway no longer has it, replace it

    def to_json(self) -> Any:
        return {
            "signing_session_id": self.signing_session_id,
            "start": self.start,
            "count": self.count,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, value: Any) -> Batch:
        obj = as_object(value, "batch")
        return cls(
            as_uuid(required(obj, "signing_session_id", "batch"), "batch"),
            as_int(required(obj, "start", "batch"), "batch.start"),
            as_int(required(obj, "count", "batch"), "batch.count", 1),
            as_bool(required(obj, "created", "batch"), "batch.created"),
        )


@dataclass(frozen=True)
class Signing:
    """The batches of the contract being signed (identified by its digest)."""

    contract_digest: str
    batches: tuple[Batch, ...]

    def to_json(self) -> Any:
        return {
            "contract_digest": self.contract_digest,
            "batches": [b.to_json() for b in self.batches],
        }

    @classmethod
    def from_json(cls, value: Any) -> Signing:
        obj = as_object(value, "signing")
        batches = as_list(required(obj, "batches", "signing"), "batches", 1 << 20)
        return cls(
            as_str(required(obj, "contract_digest", "signing"), "contract_digest", 64),
            tuple(Batch.from_json(b) for b in batches),
        )


@dataclass(frozen=True)
class KeymeldState:
    """Everything needed to resume a competition's keymeld session after a restart."""

    competition_id: str
    gateway_url: str
    keygen_session_id: str
    coordinator_user_id: str
    coordinator_pubkey: CompressedPubkey
    player_ids: tuple[str, ...]
    subsets: Mapping[str, tuple[str, ...]]  # subset id -> member user ids (coordinator first)
    manifest: SignedManifest
    credentials: Credentials
    recipient_authorization: RecipientAuthorization | None = None
    coordinator_registered: bool = False
    registrations: Mapping[str, RegistrationAuthorization] = field(default_factory=dict)
    accepted: frozenset[str] = frozenset()  # users whose registration the gateway accepted
    signing_sessions_used: int = 0
    signing: Signing | None = None

    @property
    def quota(self) -> int:
        quota = self.manifest.manifest.max_signing_sessions
        return 0 if quota is None else quota

    def evolve(self, **changes: Any) -> KeymeldState:
        return replace(self, **changes)

    def merged(self, other: KeymeldState) -> KeymeldState:
        """This state (the newest one checkpointed) with what ``other`` adds to it.

        Callers may hand in a state loaded before some of the latest checkpoints (concurrent
        registrations each load the competition first): registrations only ever accumulate, so
        their union is the truth, and a registration in ``self`` wins over ``other``'s for the
        same slot. Signing progress is the one with more sessions counted (the counter only
        grows).
        """
        if other.keygen_session_id != self.keygen_session_id or other is self:
            return self
        signing = self
        if other.signing_sessions_used > self.signing_sessions_used:
            signing = other
        return replace(
            self,
            recipient_authorization=self.recipient_authorization or other.recipient_authorization,
            coordinator_registered=self.coordinator_registered or other.coordinator_registered,
            registrations={**other.registrations, **self.registrations},
            accepted=self.accepted | other.accepted,
            signing_sessions_used=signing.signing_sessions_used,
            signing=signing.signing,
        )

    def seal(self, key: bytes) -> dict[str, Any]:
        """The JSON the lifecycle stores (credentials sealed under ``key``)."""
        sealed = seal(key, canonical(self.credentials.to_json()), self._aad())
        return {
            "version": VERSION,
            "competition_id": self.competition_id,
            "gateway_url": self.gateway_url,
            "keygen_session_id": self.keygen_session_id,
            "coordinator_user_id": self.coordinator_user_id,
            "coordinator_pubkey": self.coordinator_pubkey.hex(),
            "player_ids": list(self.player_ids),
            "subsets": {s: list(m) for s, m in self.subsets.items()},
            "manifest": self.manifest.to_json(),
            "credentials": sealed,
            "recipient_authorization": None
            if self.recipient_authorization is None
            else self.recipient_authorization.to_json(),
            "coordinator_registered": self.coordinator_registered,
            "registrations": {u: r.to_json() for u, r in sorted(self.registrations.items())},
            "accepted": sorted(self.accepted),
            "signing_sessions_used": self.signing_sessions_used,
            "signing": None if self.signing is None else self.signing.to_json(),
        }

    def _aad(self) -> bytes:
        return f"keymeld-session:{self.competition_id}:{self.keygen_session_id}".encode()

    @classmethod
    def unseal(cls, value: Mapping[str, Any], key: bytes) -> KeymeldState:
        """Read a stored state (the inverse of :meth:`seal`)."""
        try:
            return cls._unseal(value, key)
        except WireError as exc:
            raise StateError(f"keymeld session state: {exc.message}") from None

    @classmethod
    def _unseal(cls, value: Mapping[str, Any], key: bytes) -> KeymeldState:
        obj = as_object(dict(value), "state")
        if obj.get("version") != VERSION:
            raise StateError(f"keymeld session state: unknown version {obj.get('version')!r}")
        w = "state"
        competition_id = as_str(required(obj, "competition_id", w), "competition_id", 64)
        keygen_id = as_uuid(required(obj, "keygen_session_id", w), "keygen_session_id")
        aad = f"keymeld-session:{competition_id}:{keygen_id}".encode()
        try:
            raw = unseal(key, as_str(required(obj, "credentials", w), "credentials", 1 << 20), aad)
        except SealError as exc:
            raise StateError(f"keymeld session credentials: {exc}") from None
        credentials = Credentials.from_json(loads(raw, "credentials", 1 << 22))
        recipients = obj.get("recipient_authorization")
        signing = obj.get("signing")
        subsets = as_map(required(obj, "subsets", w), "subsets", 100_000)
        registrations = as_map(required(obj, "registrations", w), "registrations", 100_000)
        return cls(
            competition_id=competition_id,
            gateway_url=as_str(required(obj, "gateway_url", w), "gateway_url", 2048),
            keygen_session_id=keygen_id,
            coordinator_user_id=as_uuid(required(obj, "coordinator_user_id", w), w),
            coordinator_pubkey=_pubkey(required(obj, "coordinator_pubkey", w)),
            player_ids=tuple(
                as_uuid(u, "player_ids")
                for u in as_list(required(obj, "player_ids", w), "player_ids", 100_000)
            ),
            subsets={
                as_uuid(s, "subsets"): tuple(
                    as_uuid(u, "subsets") for u in as_list(m, "s", 1 << 20)
                )
                for s, m in subsets.items()
            },
            manifest=SignedManifest.from_json(required(obj, "manifest", w)),
            credentials=credentials,
            recipient_authorization=None
            if recipients is None
            else RecipientAuthorization.from_json(recipients),
            coordinator_registered=as_bool(
                required(obj, "coordinator_registered", w), "coordinator_registered"
            ),
            registrations={
                as_uuid(u, "registrations"): RegistrationAuthorization.from_json(r)
                for u, r in registrations.items()
            },
            accepted=frozenset(
                as_uuid(u, "accepted")
                for u in as_list(required(obj, "accepted", w), "accepted", 100_000)
            ),
            signing_sessions_used=as_int(
                required(obj, "signing_sessions_used", w), "signing_sessions_used"
            ),
            signing=None if signing is None else Signing.from_json(signing),
        )
