"""The users routes of the public API (coordinator.md §4.3.11, with coordinator-v2.md §6.3).

``password`` fields carry the client's login key (64 hex digits), never a password. Responses
never contain a password hash. Login, register and reset attempts are rate-limited per client
address and per username (429 with ``Retry-After``); sign-up needs a proof of work when
``[pow] enabled``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, Field

from coordinator.app.auth.accounts import Accounts, NewUsernameAccount
from coordinator.app.auth.limits import RateLimiter
from coordinator.app.auth.nostr import NostrDep, peer_address
from coordinator.app.auth.pow import ProofOfWork
from coordinator.config import AuthSettings
from coordinator.domain.ports.users import UserRecord
from coordinator_core.errors import ValidationError
from coordinator_core.http_origin import OriginPolicy
from coordinator_core.login_keys import USERNAME_PATTERN
from coordinator_core.nostr import npub_decode

Network = Literal["regtest", "signet", "testnet", "bitcoin"]
Caller = NostrDep


def _sealed(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) < 24 + 16 + 1:
        raise ValueError("too short to be a sealed key")
    return value


def _npub(value: str) -> str:
    npub_decode(value)
    return value


HEX32 = r"^[0-9a-f]{64}$"
Username = Annotated[
    str,
    Field(
        pattern=USERNAME_PATTERN.pattern.replace(r"\A", "^").replace(r"\Z", "$"),
        description="3 to 32 letters, digits, '_' or '-', starting with a letter",
    ),
]
LoginKey = Annotated[
    str, Field(pattern=HEX32, description="the login key derived on the client (login_keys)")
]
SealedNsec = Annotated[
    str,
    Field(min_length=56, max_length=512, pattern=r"^[A-Za-z0-9+/]+={0,2}$"),
    AfterValidator(_sealed),
]
Npub = Annotated[str, Field(pattern=r"^npub1[02-9ac-hj-np-z]{58}$"), AfterValidator(_npub)]
WalletKey = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9+/=]+$")]
Challenge = Annotated[str, Field(pattern=HEX32)]
PowChallenge = Annotated[str | None, Field(max_length=128)]
PowNonce = Annotated[str | None, Field(max_length=20, pattern=r"^[0-9]+$")]


class NostrRegister(BaseModel):
    encrypted_bitcoin_private_key: WalletKey
    network: Network
    pow_challenge: PowChallenge = None
    pow_nonce: PowNonce = None


class UsernameRegister(BaseModel):
    username: Username
    password: LoginKey
    encrypted_nsec: SealedNsec
    nostr_pubkey: Npub
    encrypted_bitcoin_private_key: WalletKey
    network: Network
    pow_challenge: PowChallenge = None
    pow_nonce: PowNonce = None


class UsernameLogin(BaseModel):
    username: Username
    password: LoginKey


class ChangePassword(BaseModel):
    current_password: LoginKey
    new_password: LoginKey
    new_encrypted_nsec: SealedNsec


class ForgotPassword(BaseModel):
    username: Username


class ResetPassword(BaseModel):
    username: Username
    challenge: Challenge
    signed_event: Annotated[str, Field(max_length=4096)]
    new_password: LoginKey
    new_encrypted_nsec: SealedNsec


class User(BaseModel):
    """An account as the API shows it (never with its password hash)."""

    nostr_pubkey: str
    encrypted_bitcoin_private_key: str
    network: str
    username: str | None
    encrypted_nsec: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, record: UserRecord) -> User:
        return cls(
            nostr_pubkey=record.nostr_pubkey,
            encrypted_bitcoin_private_key=record.encrypted_bitcoin_private_key,
            network=record.network,
            username=record.username,
            encrypted_nsec=record.encrypted_nsec,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class UsernameAccount(BaseModel):
    nostr_pubkey: str
    username: str


class UsernameSession(BaseModel):
    encrypted_nsec: str | None
    encrypted_bitcoin_private_key: str
    network: str
    nostr_pubkey: str


class ResetChallenge(BaseModel):
    challenge: str
    nostr_pubkey: str


class PowChallengeOut(BaseModel):
    challenge: str
    difficulty: int
    expires_at: int


class Done(BaseModel):
    status: Literal["ok"] = "ok"


class UsersState:
    """What the users routes need: the runtime's accounts and proof of work, and this
    listener's limiters (``app.state.users``)."""

    def __init__(self, app_state: Any) -> None:
        runtime = app_state.runtime
        limits: UserLimits = app_state.user_limits
        self.accounts: Accounts = runtime.accounts
        self.pow: ProofOfWork = runtime.pow
        self.address_limiter = limits.address
        self.username_limiter = limits.username
        self.network: str = runtime.settings.bitcoin.network


class UserLimits:
    """Rate limiters of the users routes (``[auth]``)."""

    def __init__(self, settings: AuthSettings) -> None:
        self.address = RateLimiter(
            settings.address_attempts_per_minute, settings.address_burst, settings.limiter_capacity
        )
        self.username = RateLimiter(
            settings.username_attempts_per_minute,
            settings.username_burst,
            settings.limiter_capacity,
        )


def _limit(request: Request, username: str | None = None) -> UsersState:
    """Count one attempt for the client address (and the username) or raise 429."""
    state = UsersState(request.app.state)
    policy: OriginPolicy = request.app.state.origin_policy
    address = policy.client_address(peer_address(request), request.headers)
    state.address_limiter.check(address)
    if username is not None:
        state.username_limiter.check(username.lower())
    return state


def _check_network(state: UsersState, network: str) -> None:
    if network != state.network:
        raise ValidationError(f"network: this coordinator runs on {state.network}")


router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post("/pow")
async def pow_challenge(request: Request) -> PowChallengeOut:
    """A sign-up proof-of-work challenge (needed only when ``[pow] enabled``)."""
    state = _limit(request)
    return PowChallengeOut.model_validate(await state.pow.issue())


@router.post("/register", status_code=201)
async def register(request: Request, body: NostrRegister, caller: Caller) -> User:
    """Register the NIP-98 caller's key (409 if it already has an account)."""
    state = _limit(request)
    _check_network(state, body.network)
    if state.pow.enabled:
        state.pow.check(body.pow_challenge, body.pow_nonce)
    record = await state.accounts.register_nostr(
        caller.npub, body.encrypted_bitcoin_private_key, body.network
    )
    return User.of(record)


@router.post("/login", status_code=201)
async def login(request: Request, caller: Caller) -> User:
    """The NIP-98 caller's account (401 ``invalid_login`` if it has none)."""
    state = _limit(request)
    return User.of(await state.accounts.login_nostr(caller.npub))


@router.post("/username/register", status_code=201)
async def username_register(request: Request, body: UsernameRegister) -> UsernameAccount:
    """Create a username account. A taken username answers the same and changes nothing."""
    state = _limit(request, body.username)
    _check_network(state, body.network)
    if state.pow.enabled:
        state.pow.check(body.pow_challenge, body.pow_nonce)
    await state.accounts.register_username(
        NewUsernameAccount(
            username=body.username,
            login_key=body.password,
            encrypted_nsec=body.encrypted_nsec,
            nostr_pubkey=body.nostr_pubkey,
            encrypted_bitcoin_private_key=body.encrypted_bitcoin_private_key,
            network=body.network,
        )
    )
    return UsernameAccount(nostr_pubkey=body.nostr_pubkey, username=body.username)


@router.post("/username/login")
async def username_login(request: Request, body: UsernameLogin) -> UsernameSession:
    """The sealed nsec and wallet key of a username account (401 ``invalid_login``)."""
    state = _limit(request, body.username)
    user = await state.accounts.login_username(body.username, body.password)
    state.username_limiter.forgive(body.username.lower())  # only failures use up the budget
    return UsernameSession(
        encrypted_nsec=user.encrypted_nsec,
        encrypted_bitcoin_private_key=user.encrypted_bitcoin_private_key,
        network=user.network,
        nostr_pubkey=user.nostr_pubkey,
    )


@router.post("/username/change-password")
async def change_password(request: Request, body: ChangePassword, caller: Caller) -> Done:
    """Replace the login key and sealed nsec of the caller's username account."""
    state = _limit(request)
    await state.accounts.change_password(
        caller.npub, body.current_password, body.new_password, body.new_encrypted_nsec
    )
    return Done()


@router.post("/username/forgot-password")
async def forgot_password(request: Request, body: ForgotPassword) -> ResetChallenge:
    """A single-use challenge (valid ``[auth] reset_challenge_ttl_secs``) to sign with the
    account's key, and the account's npub."""
    state = _limit(request, body.username)
    return ResetChallenge.model_validate(await state.accounts.forgot_password(body.username))


@router.post("/username/reset-password")
async def reset_password(request: Request, body: ResetPassword) -> Done:
    """Set a new password with the account key's signature of a reset challenge."""
    state = _limit(request, body.username)
    await state.accounts.reset_password(
        body.username,
        body.challenge,
        body.signed_event,
        body.new_password,
        body.new_encrypted_nsec,
    )
    state.username_limiter.forgive(body.username.lower())
    return Done()
