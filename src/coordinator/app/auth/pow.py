"""Sign-up proof of work (``[pow]``, off by default).

``challenge = base64url_nopad(random[16] ‖ expires_at u64 BE ‖ difficulty u8 ‖
HMAC-SHA256(process secret, first 25 bytes)[:16])``: the server keeps nothing per challenge
until it is spent; spent challenges are remembered until they expire (a restart voids every
outstanding challenge, since the secret is per process). Difficulty is ``base_bits +
floor(sign-ups in the last hour / step_signups)``, at most ``max_bits``, the count cached 15 s.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import struct
import threading
import time
from collections.abc import Awaitable, Callable

from coordinator.config import PowSettings
from coordinator_core.errors import AuthError
from coordinator_core.pow import PowError, challenge_bytes, work_bits

COUNT_CACHE_SECS = 15.0
MAX_SPENT = 1_000_000
_BODY = 16 + 8 + 1


def pow_rejected(reason: str) -> AuthError:
    return AuthError(400, "pow_rejected", reason)


class ProofOfWork:
    """Issues and checks sign-up challenges."""

    def __init__(
        self, settings: PowSettings, signups_since: Callable[[str], Awaitable[int]]
    ) -> None:
        self.settings = settings
        self._signups_since = signups_since
        self._secret = secrets.token_bytes(32)
        self._spent: dict[bytes, int] = {}
        self._lock = threading.Lock()
        self._count: tuple[float, int] | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def difficulty(self) -> int:
        now = time.monotonic()
        if self._count is None or now - self._count[0] > COUNT_CACHE_SECS:
            since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
            self._count = (now, await self._signups_since(since.strftime("%Y-%m-%dT%H:%M:%S")))
        extra = self._count[1] // self.settings.step_signups
        return min(self.settings.base_bits + extra, self.settings.max_bits)

    async def issue(self) -> dict[str, str | int]:
        difficulty = await self.difficulty()
        expires_at = int(time.time()) + self.settings.challenge_ttl_secs
        body = secrets.token_bytes(16) + struct.pack(">QB", expires_at, difficulty)
        raw = body + self._tag(body)
        challenge = _b64(raw)
        return {"challenge": challenge, "difficulty": difficulty, "expires_at": expires_at}

    def check(self, challenge: str | None, nonce: str | None) -> None:
        """Accept a solved, unexpired, unspent challenge once; else 400 ``pow_rejected``."""
        if not challenge or nonce is None:
            raise pow_rejected("missing")
        try:
            raw = challenge_bytes(challenge)
        except PowError:
            raise pow_rejected("malformed") from None
        if len(raw) != _BODY + 16 or _b64(raw) != challenge:
            raise pow_rejected("malformed")
        body, tag = raw[:_BODY], raw[_BODY:]
        if not hmac.compare_digest(tag, self._tag(body)):
            raise pow_rejected("forged")
        expires_at, difficulty = struct.unpack(">QB", body[16:])
        now = int(time.time())
        if expires_at < now:
            raise pow_rejected("expired")
        if difficulty < self.settings.base_bits:
            raise pow_rejected("too_easy")
        if not nonce.isdigit() or len(nonce) > 20 or int(nonce) >= 1 << 64:
            raise pow_rejected("malformed")
        if work_bits(challenge, int(nonce)) < difficulty:
            raise pow_rejected("wrong_nonce")
        with self._lock:
            for spent in [key for key, until in self._spent.items() if until < now]:
                del self._spent[spent]
            if raw in self._spent:
                raise pow_rejected("reused")
            if len(self._spent) >= MAX_SPENT:
                raise AuthError(503, "pow_busy", "too many sign-ups; retry later")
            self._spent[raw] = expires_at

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
