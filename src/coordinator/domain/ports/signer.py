"""What the competition lifecycle needs from a MuSig2 signing service (a keymeld gateway).

Players do not stay online for the two MuSig2 rounds of a contract: each player seals its
ephemeral DLC key to an enclave of the signing service, and the enclaves sign every outcome and
split transaction together with the coordinator's market-maker key. The lifecycle drives it:

1. at competition creation, :meth:`Signer.open_keygen` opens a key-generation session for the
   coordinator plus one participant per ticket (user id = ticket id), declaring the winner sets
   that must co-sign split transactions;
2. while entries come in, :meth:`Signer.registration_slot` gives a player what it needs to seal
   its key (the slot context and an attested enclave key), and
   :meth:`Signer.register_participant` forwards the sealed envelope;
3. :meth:`Signer.keygen_result` reports the verified participant roster once keygen completed;
   the lifecycle compares it with the accepted entries before funding;
4. :meth:`Signer.sign_contract` signs the whole ``signing_data()`` of the built contract and
   returns a signature set that has been verified against the contract.

The session state is owned by the adapter but persisted by the lifecycle: every method that
changes it calls ``checkpoint`` with the new :class:`SignerSession` **before** it performs the
next remote side effect, and the lifecycle stores it durably before returning from the
checkpoint. Secrets inside ``SignerSession.state`` are sealed by the adapter. A restart resumes
from the last checkpoint, so no remote step is repeated in a way that wastes quota or reuses a
nonce. Calls on one competition may run concurrently (players registering at once), each with
the session as the caller loaded it: the adapter serializes them and builds on the newest
state it checkpointed, so the last checkpoint stored holds every change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from coordinator_core.errors import PermanentError, ValidationError
from ticketdlc.contract import ContractSignatures, TicketedDLC
from ticketdlc.typed_bytes import CompressedPubkey, SecretKey


class SignerCapacityError(ValidationError):
    """The contract shape does not fit the signing service's limits; the message names the
    limit (e.g. ``subsets: 2300 > 200``)."""

    code = "signer_capacity"


class SignerRejectedError(PermanentError):
    """The signing service refused a request (its status code and error code in the message)."""

    code = "signer_rejected"


class RegistrationConflictError(SignerRejectedError):
    """The participant's slot is already claimed with a different registration."""

    code = "registration_conflict"


@dataclass(frozen=True)
class SignerLimits:
    """Limits of the configured signing service, checked before any competition is created."""

    max_participants: int  # per keygen session, coordinator included
    max_subsets: int  # declared signer subsets per keygen session
    max_items_per_signing_session: int  # batch items in one signing request
    max_signing_sessions: int  # signing sessions one keygen session may run
    max_keygen_timeout_secs: int  # longest keygen session the service accepts


@dataclass(frozen=True)
class SigningPlanSummary:
    """How a contract of a given shape would be signed: what :meth:`Signer.plan` computed."""

    participants: int
    subsets: int  # distinct winner sets (deduplicated by participant set)
    items: int  # signatures to produce (outcomes + split leaves)
    signing_sessions: int  # items chunked by the per-session item limit


@dataclass(frozen=True)
class KeygenRequest:
    """Everything needed to open the keygen session of one competition."""

    competition_id: str
    player_ids: Sequence[str]  # one per ticket (ticket ids, UUIDv7)
    # One per contract outcome (rankings, refund-all, expiry): indexes into player_ids of the
    # winners co-signing its splits. Only the family of sets matters: at signing, each split's
    # signer set is matched to a declared set by the players' keys, so tickets may map to
    # contract players in any order (every k-subset of a competition is declared).
    winner_sets: Sequence[frozenset[int]]
    market_maker_secret: SecretKey  # this competition's market-maker key; sealed to an enclave
    timeout_secs: int  # how long the session may wait for registrations


@dataclass(frozen=True)
class SignerSession:
    """A competition's signing-session state: JSON owned by the adapter, stored by the caller."""

    competition_id: str
    state: Mapping[str, Any]


Checkpoint = Callable[[SignerSession], Awaitable[None]]


@dataclass(frozen=True)
class RegistrationSlot:
    """What a player needs to seal its key for its slot (keymeld-0.10 §4.4, delegated).

    ``context`` is the JSON ``RegistrationContext`` without the player's own keys
    (``public_key``, ``auth_pubkey``), which the player fills in. The attestation document was
    fetched with the player's nonce, so the player can check it is fresh and binds
    ``enclave_public_key``.
    """

    user_id: str
    context: Mapping[str, Any]
    enclave_id: int
    enclave_public_key: CompressedPubkey
    enclave_key_epoch: int
    attestation_document: bytes  # raw COSE_Sign1
    attestation_nonce: bytes

    def to_json(self) -> dict[str, Any]:
        """The JSON a player reads (``coordinator_core.keymeld.registration.SlotOffer``)."""
        return {
            "context": dict(self.context),
            "enclave_id": self.enclave_id,
            "enclave_public_key": self.enclave_public_key.hex(),
            "enclave_key_epoch": self.enclave_key_epoch,
            "attestation_document": self.attestation_document.hex(),
            "attestation_nonce": self.attestation_nonce.hex(),
        }


@dataclass(frozen=True)
class ParticipantRegistration:
    """A player's sealed registration, as the player made it."""

    user_id: str
    public_key: CompressedPubkey  # ephemeral DLC key (the contract player key)
    auth_pubkey: CompressedPubkey  # derived from the key for this session
    encrypted_envelope: bytes  # ECIES ciphertext of the RegistrationEnvelope
    enclave_key_epoch: int  # the slot's epoch the envelope was sealed for


@dataclass(frozen=True)
class KeygenResult:
    """A completed keygen session whose signed roster verified."""

    participant_keys: Mapping[str, CompressedPubkey]  # user id -> key (players and coordinator)
    aggregate_public_key: CompressedPubkey  # untweaked


class Signer(Protocol):
    """A remote MuSig2 signing service."""

    @property
    def limits(self) -> SignerLimits: ...

    def plan(self, players: int, places: int) -> SigningPlanSummary:
        """Count subsets, items and sessions for a competition shape; raises
        :class:`SignerCapacityError` naming the first limit it exceeds."""
        ...

    async def open_keygen(self, request: KeygenRequest, checkpoint: Checkpoint) -> SignerSession:
        """Open and initialize the keygen session and register the coordinator itself.

        Raises :class:`SignerCapacityError` before anything is opened if the shape does not fit.
        If it fails or the process stops before it returns, call it again: a new session is
        opened (an unfinished one expires unused at the service)."""
        ...

    async def registration_slot(
        self, session: SignerSession, user_id: str, attestation_nonce: bytes
    ) -> RegistrationSlot:
        """The slot of ``user_id`` with a fresh attestation bound to ``attestation_nonce``."""
        ...

    async def register_participant(
        self, session: SignerSession, registration: ParticipantRegistration, checkpoint: Checkpoint
    ) -> SignerSession:
        """Authorize and submit a player's registration. An identical retry succeeds; a
        different registration for a claimed slot raises :class:`RegistrationConflictError`."""
        ...

    async def keygen_result(self, session: SignerSession) -> KeygenResult | None:
        """``None`` while participants are still registering; the verified roster after."""
        ...

    async def sign_contract(
        self, session: SignerSession, dlc: TicketedDLC, checkpoint: Checkpoint
    ) -> ContractSignatures:
        """Sign every outcome and split of ``dlc`` and return signatures verified against it.

        Resumable: batches already signed are kept in the session state; an interrupted batch
        is restarted with fresh nonces, never resumed with old ones.
        """
        ...
