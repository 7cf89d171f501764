"""The devnet gateway's session records and their stored form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordinator_core.keymeld.api import (
    BatchResult,
    CreateSigningRequest,
    InitializeRequest,
    RegisterRequest,
    ReserveRequest,
)
from coordinator_core.keymeld.messages import AdaptorConfig, ParticipantApproval
from devnet.signer.musig import Finalization, LocalGroups, SigningItem


class KeygenState:
    RESERVED = "reserved"
    COLLECTING = "collecting_participants"
    COMPLETED = "completed"


class SigningState:
    COLLECTING = "collecting_participants"
    INITIALIZING = "initializing_session"
    DISTRIBUTING = "distributing_nonces"
    FINALIZING = "finalizing_signature"
    COMPLETED = "completed"


@dataclass
class KeygenRecord:
    """One keygen session."""

    reserve: ReserveRequest
    state: str
    created_at: int
    expires_at: int
    assignments: dict[str, int]
    coordinator_enclave_id: int
    coordinator_key_epoch: int
    initialize: InitializeRequest | None = None
    enclave_secrets: dict[int, str] = field(default_factory=dict)  # ECIES hex per enclave
    registrations: dict[str, RegisterRequest] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    signing_sessions_created: int = 0

    @property
    def id(self) -> str:
        return self.reserve.keygen_session_id

    @property
    def expected(self) -> tuple[str, ...]:
        return self.reserve.expected_participants

    @property
    def coordinator_user_id(self) -> str:
        return self.reserve.coordinator_user_id

    def descending(self) -> list[str]:
        """Expected participants, newest UUIDv7 first (the gateway's slot order)."""
        return sorted(self.expected, reverse=True)

    def to_doc(self) -> dict[str, Any]:
        """The changing part (the reserve request and registrations are stored apart)."""
        return {
            "state": self.state,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "assignments": self.assignments,
            "coordinator_enclave_id": self.coordinator_enclave_id,
            "coordinator_key_epoch": self.coordinator_key_epoch,
            "initialize": None if self.initialize is None else self.initialize.to_json(),
            "enclave_secrets": {str(k): v for k, v in self.enclave_secrets.items()},
            "result": self.result,
            "signing_sessions_created": self.signing_sessions_created,
        }

    @classmethod
    def from_doc(
        cls, request: Any, doc: dict[str, Any], registrations: dict[str, Any]
    ) -> KeygenRecord:
        init = doc["initialize"]
        return cls(
            reserve=ReserveRequest.from_json(request),
            state=doc["state"],
            created_at=doc["created_at"],
            expires_at=doc["expires_at"],
            assignments={str(u): int(e) for u, e in doc["assignments"].items()},
            coordinator_enclave_id=doc["coordinator_enclave_id"],
            coordinator_key_epoch=doc["coordinator_key_epoch"],
            initialize=None if init is None else InitializeRequest.from_json(init),
            enclave_secrets={int(k): v for k, v in doc["enclave_secrets"].items()},
            registrations={u: RegisterRequest.from_json(r) for u, r in registrations.items()},
            result=doc["result"],
            signing_sessions_created=doc["signing_sessions_created"],
        )


@dataclass
class SigningRound:
    """The in-memory state of one signing round (lost on a restart: the round restarts)."""

    items: list[SigningItem]
    seeds: dict[int, bytes]  # per enclave
    groups: dict[int, LocalGroups] = field(default_factory=dict)  # per enclave
    nonces: dict[int, dict[int, bytes]] = field(default_factory=dict)  # enclave -> item -> nonce
    sessions: dict[int, Finalization] = field(default_factory=dict)  # item -> session values
    partials: dict[int, dict[int, int]] = field(default_factory=dict)  # enclave -> item -> s


@dataclass
class SigningRecord:
    """One signing session (one batch)."""

    request: CreateSigningRequest
    state: str
    created_at: int
    expires_at: int
    participants: tuple[str, ...]
    requiring_approval: tuple[str, ...]
    approvals: dict[str, ParticipantApproval] = field(default_factory=dict)
    results: list[BatchResult] | None = None
    round: SigningRound | None = None  # memory only
    # The adaptor configs the coordinator enclave opened at S1, by batch item id (memory
    # only: opened again after a restart).
    adaptors: dict[str, AdaptorConfig] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.request.signing_session_id

    @property
    def keygen_id(self) -> str:
        return self.request.keygen_session_id

    def to_doc(self) -> dict[str, Any]:
        """The changing part (the request is stored apart)."""
        return {
            "state": self.state,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "participants": list(self.participants),
            "requiring_approval": list(self.requiring_approval),
            "approvals": {u: a.to_json() for u, a in self.approvals.items()},
            "results": None if self.results is None else [r.to_json() for r in self.results],
        }

    @classmethod
    def from_doc(cls, request: Any, doc: dict[str, Any], max_items: int) -> SigningRecord:
        results = doc["results"]
        state = doc["state"]
        if state not in (SigningState.COLLECTING, SigningState.COMPLETED):
            state = SigningState.INITIALIZING  # the round's nonces were lost with the process
        return cls(
            request=CreateSigningRequest.from_json(request, max_items),
            state=state,
            created_at=doc["created_at"],
            expires_at=doc["expires_at"],
            participants=tuple(doc["participants"]),
            requiring_approval=tuple(doc["requiring_approval"]),
            approvals={u: ParticipantApproval.from_json(a) for u, a in doc["approvals"].items()},
            results=None
            if results is None
            else [
                BatchResult(r["batch_item_id"], r["signature"], r["adaptor_signatures"], r["error"])
                for r in results
            ],
        )
