"""MuSig2 internals shared by :mod:`ticketdlc.crypto.musig2` (BIP-327), the adaptor variant
:mod:`ticketdlc.crypto.adaptor` and the bulk signing engine (:mod:`ticketdlc.contract.engine`).

Not a public API: key aggregation with caches, single-use secret nonces, session values, and the
adaptor-aware partial signing, verification and aggregation every signing path goes through.
:func:`partial_signature_scalar` is the one place the partial-signature formula is written.

The adaptor variant follows the conduition ``musig2`` crate: the nonce coefficient is hashed
over the aggregate nonce *without* the adaptor point ``T``; the effective nonce ``R' = R + T``
decides the nonce parity and the challenge.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple

from ticketdlc.crypto import _musig_lib, bip340
from ticketdlc.crypto.secp import (
    CURVE_ORDER,
    G,
    InfinityError,
    Point,
    cbytes_ext,
    cpoint_ext,
    generator_mul,
    point_sum,
    tagged_hash,
    xor_bytes,
)

n: Final = CURVE_ORDER
PlainPk = bytes
XonlyPk = bytes

_SESSION_CACHE_SIZE: Final = 16384
_KEYAGG_CACHE_SIZE: Final = 4096


class InvalidContributionError(ValueError):
    """A signer (or the aggregator, ``signer=None``) contributed an invalid value.

    ``contrib`` names the contribution: ``"pubkey"``, ``"pubnonce"``, ``"aggnonce"``,
    ``"aggothernonce"`` or ``"psig"``.
    """

    def __init__(self, signer: int | None, contrib: str) -> None:
        super().__init__(f"invalid {contrib} from signer {signer}")
        self.signer = signer
        self.contrib = contrib


class NonceReuseError(ValueError):
    """A secret nonce was offered for a second signature."""


# ---------------------------------------------------------------------------------------------
# Key aggregation


class KeyGenContext(NamedTuple):
    """Aggregate key ``Q`` with the tweak accumulators ``gacc`` (±1) and ``tacc``."""

    Q: Point
    gacc: int
    tacc: int


def key_sort(pubkeys: Sequence[PlainPk]) -> list[PlainPk]:
    """BIP-327 KeySort: ascending by the 33-byte compressed encoding."""
    return sorted(pubkeys)


def get_xonly_pk(keygen_ctx: KeyGenContext) -> XonlyPk:
    """x-only encoding of the (tweaked) aggregate key."""
    return keygen_ctx.Q.xonly()


def _parse_pubkey(pubkey: bytes, signer: int) -> Point:
    try:
        return Point.from_bytes(pubkey)
    except (ValueError, TypeError):
        raise InvalidContributionError(signer, "pubkey") from None


@dataclass(frozen=True, slots=True)
class _KeyAgg:
    pubkeys: tuple[bytes, ...]
    points: tuple[Point, ...]
    coefficients: dict[bytes, int]
    Q: Point


def _hash_keys(pubkeys: Sequence[bytes]) -> bytes:
    return tagged_hash("KeyAgg list", b"".join(pubkeys))


def _second_key(pubkeys: Sequence[bytes]) -> bytes:
    for pubkey in pubkeys[1:]:
        if pubkey != pubkeys[0]:
            return pubkey
    return bytes(33)


def _coefficient(list_hash: bytes, pubkey: bytes, second: bytes) -> int:
    if pubkey == second:
        return 1
    return int.from_bytes(tagged_hash("KeyAgg coefficient", list_hash + pubkey), "big") % n


@lru_cache(maxsize=_KEYAGG_CACHE_SIZE)
def _key_agg_cached(pubkeys: tuple[bytes, ...]) -> _KeyAgg:
    if not pubkeys:
        raise ValueError("The list of pubkeys must not be empty.")
    points = tuple(_parse_pubkey(pk, i) for i, pk in enumerate(pubkeys))
    list_hash = _hash_keys(pubkeys)
    second = _second_key(pubkeys)
    coefficients = {pk: _coefficient(list_hash, pk, second) for pk in set(pubkeys)}
    total = point_sum(point * coefficients[pk] for pk, point in zip(pubkeys, points, strict=True))
    if total is None:  # negligible probability
        raise ValueError("The aggregate public key is infinity.")
    return _KeyAgg(pubkeys, points, coefficients, total)


def key_agg(pubkeys: Sequence[PlainPk]) -> KeyGenContext:
    """BIP-327 KeyAgg over the keys in the given order (sort them first with ``key_sort``)."""
    return KeyGenContext(_key_agg_cached(tuple(bytes(pk) for pk in pubkeys)).Q, 1, 0)


def key_agg_coeff(pubkeys: Sequence[PlainPk], pk_: PlainPk) -> int:
    """The KeyAgg coefficient of ``pk_`` within ``pubkeys``."""
    agg = _key_agg_cached(tuple(bytes(pk) for pk in pubkeys))
    try:
        return agg.coefficients[bytes(pk_)]
    except KeyError:
        raise ValueError("The signer's pubkey must be included in the list of pubkeys.") from None


def apply_tweak(keygen_ctx: KeyGenContext, tweak: bytes, is_xonly: bool) -> KeyGenContext:
    """Add a plain (BIP-32 style) or x-only (BIP-341 style) tweak to the aggregate key."""
    if len(tweak) != 32:
        raise ValueError("The tweak must be a 32-byte array.")
    Q, gacc, tacc = keygen_ctx
    g = n - 1 if is_xonly and not Q.has_even_y() else 1
    t = int.from_bytes(tweak, "big")
    if t >= n:
        raise ValueError("The tweak must be less than n.")
    try:
        tweaked = (Q if g == 1 else -Q).add_base_mul(t)
    except InfinityError:
        raise ValueError("The result of tweaking cannot be infinity.") from None
    return KeyGenContext(tweaked, g * gacc % n, (t + g * tacc) % n)


@lru_cache(maxsize=_KEYAGG_CACHE_SIZE)
def _key_agg_and_tweak_cached(
    pubkeys: tuple[bytes, ...], tweaks: tuple[bytes, ...], is_xonly: tuple[bool, ...]
) -> KeyGenContext:
    if len(tweaks) != len(is_xonly):
        raise ValueError("The `tweaks` and `is_xonly` arrays must have the same length.")
    ctx = KeyGenContext(_key_agg_cached(pubkeys).Q, 1, 0)
    for tweak, xonly in zip(tweaks, is_xonly, strict=True):
        ctx = apply_tweak(ctx, tweak, xonly)
    return ctx


def key_agg_and_tweak(
    pubkeys: Sequence[PlainPk], tweaks: Sequence[bytes], is_xonly: Sequence[bool]
) -> KeyGenContext:
    """KeyAgg followed by the tweaks in order."""
    return _key_agg_and_tweak_cached(
        tuple(bytes(pk) for pk in pubkeys),
        tuple(bytes(t) for t in tweaks),
        tuple(bool(x) for x in is_xonly),
    )


def individual_pk(sk: bytes) -> PlainPk:
    """33-byte compressed public key of a secret key."""
    d = int.from_bytes(sk, "big")
    if len(sk) != 32 or not 0 < d < n:
        raise ValueError("The secret key must be 32 bytes in [1, n-1].")
    return Point.from_secret(d).to_bytes()


# Public keys of recently used secret keys, keyed by SHA256(sk) so no secret is held here.
_PK_BY_SECRET_DIGEST: dict[bytes, bytes] = {}
_PK_CACHE_LIMIT: Final = 256


def _pubkey_of(sk: bytes) -> bytes:
    digest = hashlib.sha256(sk).digest()
    pk = _PK_BY_SECRET_DIGEST.get(digest)
    if pk is None:
        pk = Point.from_secret(int.from_bytes(sk, "big")).to_bytes()
        if len(_PK_BY_SECRET_DIGEST) >= _PK_CACHE_LIMIT:
            _PK_BY_SECRET_DIGEST.clear()
        _PK_BY_SECRET_DIGEST[digest] = pk
    return pk


# ---------------------------------------------------------------------------------------------
# Nonces


class SingleUse:
    """Base of objects holding one-time secret nonce material: no copies, no pickling, so the
    material cannot be duplicated in memory or restored from storage and used twice."""

    __slots__ = ()

    def __copy__(self) -> SingleUse:
        raise TypeError(f"{type(self).__name__} cannot be copied")

    def __deepcopy__(self, memo: object) -> SingleUse:
        raise TypeError(f"{type(self).__name__} cannot be copied")

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError(f"{type(self).__name__} cannot be pickled")

    def __reduce_ex__(self, protocol: object) -> tuple[object, ...]:
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class SecNonce(SingleUse):
    """A secret nonce pair bound to a public key, usable for exactly one partial signature.

    The first signing call consumes it (the scalars are dropped); any later use raises
    :class:`NonceReuseError`. It cannot be copied or pickled.
    """

    __slots__ = ("_k1", "_k2", "_lock", "_pk", "_used")

    def __init__(self, k1: int, k2: int, pk: PlainPk) -> None:
        """Wrap the scalars ``k1``, ``k2`` and the signer's 33-byte public key."""
        if len(pk) != 33:
            raise ValueError("The public key in a secnonce is 33 bytes.")
        self._k1 = k1
        self._k2 = k2
        self._pk = bytes(pk)
        self._used = False
        self._lock = threading.Lock()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> SecNonce:
        """Load the 97-byte BIP-327 form ``k1 || k2 || pk``."""
        if len(data) != 97:
            raise ValueError("A secnonce is 97 bytes.")
        raw = bytes(data)
        return cls(int.from_bytes(raw[0:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64:])

    @property
    def pk(self) -> PlainPk:
        """The public key this nonce was generated for."""
        return self._pk

    @property
    def used(self) -> bool:
        """True once the nonce has been consumed."""
        return self._used

    def to_bytes(self) -> bytes:
        """The 97-byte BIP-327 form (refused once used). Storing it risks reuse: avoid."""
        with self._lock:
            if self._used:
                raise NonceReuseError("secret nonce already used")
            return self._k1.to_bytes(32, "big") + self._k2.to_bytes(32, "big") + self._pk

    def public_nonce(self) -> bytes:
        """The 66-byte public nonce ``k1·G || k2·G`` (refused once used)."""
        with self._lock:
            if self._used:
                raise NonceReuseError("secret nonce already used")
            k1, k2 = self._k1, self._k2
        return pubnonce_of(k1, k2)

    def consume(self) -> tuple[int, int, PlainPk]:
        """Take the scalars for one signature; every later call raises."""
        with self._lock:
            if self._used:
                raise NonceReuseError("secret nonce already used")
            self._used = True
            k1, k2 = self._k1, self._k2
            self._k1 = self._k2 = 0
        return k1, k2, self._pk

    def __repr__(self) -> str:
        return f"SecNonce(pk={self._pk.hex()}, used={self._used})"


def consume_secnonce(secnonce: SecNonce | bytearray) -> tuple[int, int, bytes]:
    if isinstance(secnonce, SecNonce):
        return secnonce.consume()
    if isinstance(secnonce, bytearray):
        if len(secnonce) != 97:
            raise ValueError("A secnonce is 97 bytes.")
        k1 = int.from_bytes(secnonce[0:32], "big")
        k2 = int.from_bytes(secnonce[32:64], "big")
        # Zero the caller's buffer so that a second use fails the range check (BIP-327).
        secnonce[:64] = bytes(64)
        return k1, k2, bytes(secnonce[64:97])
    raise TypeError("secnonce must be a SecNonce or a bytearray (consumed on use)")


def pubnonce_of(k1: int, k2: int) -> bytes:
    return Point.from_secret(k1).to_bytes() + Point.from_secret(k2).to_bytes()


def _nonce_hash(
    rand: bytes, pk: bytes, aggpk: bytes, i: int, msg_prefixed: bytes, extra_in: bytes
) -> int:
    buf = b"".join(
        (
            rand,
            len(pk).to_bytes(1, "big"),
            pk,
            len(aggpk).to_bytes(1, "big"),
            aggpk,
            msg_prefixed,
            len(extra_in).to_bytes(4, "big"),
            extra_in,
            i.to_bytes(1, "big"),
        )
    )
    return int.from_bytes(tagged_hash("MuSig/nonce", buf), "big")


def nonce_gen_internal(
    rand_: bytes,
    sk: bytes | None,
    pk: PlainPk,
    aggpk: XonlyPk | None,
    msg: bytes | None,
    extra_in: bytes | None,
) -> tuple[SecNonce, bytes]:
    """BIP-327 NonceGen with caller-supplied randomness ``rand_`` (32 bytes)."""
    rand = xor_bytes(sk, tagged_hash("MuSig/aux", rand_)) if sk is not None else rand_
    aggpk = b"" if aggpk is None else aggpk
    msg_prefixed = b"\x00" if msg is None else b"\x01" + len(msg).to_bytes(8, "big") + msg
    extra = b"" if extra_in is None else extra_in
    k1 = _nonce_hash(rand, pk, aggpk, 0, msg_prefixed, extra) % n
    k2 = _nonce_hash(rand, pk, aggpk, 1, msg_prefixed, extra) % n
    if k1 == 0 or k2 == 0:  # negligible probability
        raise ValueError("nonce derivation produced zero")
    return SecNonce(k1, k2, pk), pubnonce_of(k1, k2)


def nonce_gen(
    sk: bytes | None,
    pk: PlainPk,
    aggpk: XonlyPk | None,
    msg: bytes | None,
    extra_in: bytes | None,
) -> tuple[SecNonce, bytes]:
    """BIP-327 NonceGen with fresh OS randomness; returns ``(SecNonce, 66-byte pubnonce)``."""
    if sk is not None and len(sk) != 32:
        raise ValueError("The optional byte array sk must have length 32.")
    if aggpk is not None and len(aggpk) != 32:
        raise ValueError("The optional byte array aggpk must have length 32.")
    if len(pk) != 33:
        raise ValueError("The public key must be 33 bytes.")
    return nonce_gen_internal(os.urandom(32), sk, pk, aggpk, msg, extra_in)


def nonce_gen_crate_compat(seed: bytes, sk: bytes | None, pk: PlainPk) -> tuple[SecNonce, bytes]:
    """Nonces exactly as the musig2 crate's ``SecNonce::build(seed).with_seckey(sk)`` makes them.

    Only needed to regenerate the same nonces as a Rust party; otherwise use :func:`nonce_gen`.
    """
    if len(seed) != 32 or len(pk) != 33:
        raise ValueError("seed is 32 bytes and pk 33 bytes")
    rand = xor_bytes(sk if sk is not None else bytes(32), tagged_hash("MuSig/aux", seed))
    prefix = rand + b"\x21" + pk + b"\x00\x00"
    k1 = int.from_bytes(tagged_hash("MuSig/nonce", prefix + b"\x00"), "big") % n or 1
    k2 = int.from_bytes(tagged_hash("MuSig/nonce", prefix + b"\x01"), "big") % n or 1
    return SecNonce(k1, k2, pk), pubnonce_of(k1, k2)


def _nonce_halves(pubnonces: Sequence[bytes]) -> tuple[Point | None, Point | None]:
    """NonceAgg's two sums ``(R1, R2)`` (None for infinity)."""
    halves: list[list[Point]] = [[], []]
    for j in (0, 1):
        for i, pubnonce in enumerate(pubnonces):
            if len(pubnonce) != 66:
                raise InvalidContributionError(i, "pubnonce")
            try:
                halves[j].append(Point.from_bytes(pubnonce[33 * j : 33 * (j + 1)]))
            except ValueError:
                raise InvalidContributionError(i, "pubnonce") from None
    return point_sum(halves[0]), point_sum(halves[1])


def nonce_agg(pubnonces: Sequence[bytes]) -> bytes:
    """BIP-327 NonceAgg: the 66-byte aggregate nonce (infinity halves as 33 zero bytes)."""
    R1, R2 = _nonce_halves(pubnonces)
    return cbytes_ext(R1) + cbytes_ext(R2)


# ---------------------------------------------------------------------------------------------
# Sessions


class SessionContext(NamedTuple):
    """Everything a signing session is defined by (BIP-327)."""

    aggnonce: bytes
    pubkeys: Sequence[PlainPk]
    tweaks: Sequence[bytes]
    is_xonly: Sequence[bool]
    msg: bytes


@dataclass(frozen=True, slots=True)
class SessionValues:
    """Derived session values; ``R`` is the final nonce and ``R_eff = R + T`` (``R`` if no T)."""

    Q: Point
    gacc: int
    tacc: int
    b: int
    R: Point
    R_eff: Point
    e: int
    keyagg: _KeyAgg

    @property
    def nonce_negated(self) -> bool:
        """True if the effective nonce has odd y, so nonce terms are negated."""
        return not self.R_eff.has_even_y()

    @property
    def key_sign(self) -> int:
        """``g·gacc``: the sign applied to every secret key share."""
        g = 1 if self.Q.has_even_y() else n - 1
        return g * self.gacc % n


def _session_key(
    session_ctx: SessionContext,
) -> tuple[bytes, tuple[bytes, ...], tuple[bytes, ...], tuple[bool, ...], bytes]:
    aggnonce, pubkeys, tweaks, is_xonly, msg = session_ctx
    return (
        bytes(aggnonce),
        tuple(bytes(pk) for pk in pubkeys),
        tuple(bytes(t) for t in tweaks),
        tuple(bool(x) for x in is_xonly),
        bytes(msg),
    )


@lru_cache(maxsize=_SESSION_CACHE_SIZE)
def _session_values_cached(
    aggnonce: bytes,
    pubkeys: tuple[bytes, ...],
    tweaks: tuple[bytes, ...],
    is_xonly: tuple[bool, ...],
    msg: bytes,
    adaptor: bytes | None,
) -> SessionValues:
    keygen = _key_agg_and_tweak_cached(pubkeys, tweaks, is_xonly)
    if len(aggnonce) != 66:
        raise InvalidContributionError(None, "aggnonce")
    try:
        R1 = cpoint_ext(aggnonce[0:33])
        R2 = cpoint_ext(aggnonce[33:66])
    except ValueError:
        raise InvalidContributionError(None, "aggnonce") from None
    point = None if adaptor is None else Point.from_bytes(adaptor)
    return _derive_session(keygen, pubkeys, aggnonce, R1, R2, msg, point)


def _derive_session(
    keygen: KeyGenContext,
    pubkeys: tuple[bytes, ...],
    aggnonce: bytes,
    R1: Point | None,
    R2: Point | None,
    msg: bytes,
    adaptor: Point | None,
) -> SessionValues:
    """The session values of the aggregate nonce ``aggnonce`` = ``(R1, R2)``."""
    Q, gacc, tacc = keygen
    b = int.from_bytes(tagged_hash("MuSig/noncecoef", aggnonce + Q.xonly() + msg), "big") % n
    R = point_sum((R1, None if R2 is None or b == 0 else R2 * b)) or G
    if adaptor is None:
        R_eff = R
    else:
        adapted = point_sum((R, adaptor))
        if adapted is None:
            raise ValueError("The adapted nonce R + T is infinity.")
        R_eff = adapted
    e = bip340.challenge(R_eff.xonly(), Q.xonly(), msg)
    return SessionValues(Q, gacc, tacc, b, R, R_eff, e, _key_agg_cached(pubkeys))


def aggregate_session(
    pubnonces: Sequence[bytes],
    pubkeys: tuple[bytes, ...],
    tweaks: tuple[bytes, ...],
    is_xonly: tuple[bool, ...],
    msg: bytes,
    adaptor: Point | None = None,
) -> tuple[bytes, SessionValues]:
    """NonceAgg of ``pubnonces`` and the session values under it, in one step.

    Equal to ``nonce_agg`` followed by :func:`session_values`, without parsing the aggregate
    nonce again and without the session cache: for a caller that derives each session once and
    keeps what it needs (a signer of many independent sessions).
    """
    R1, R2 = _nonce_halves(pubnonces)
    aggnonce = cbytes_ext(R1) + cbytes_ext(R2)
    keygen = _key_agg_and_tweak_cached(pubkeys, tweaks, is_xonly)
    return aggnonce, _derive_session(keygen, pubkeys, aggnonce, R1, R2, msg, adaptor)


def session_values(session_ctx: SessionContext, adaptor: Point | None = None) -> SessionValues:
    """Cached :class:`SessionValues` of a session, optionally with an adaptor point."""
    return _session_values_cached(
        *_session_key(session_ctx), None if adaptor is None else adaptor.to_bytes()
    )


def get_session_values(session_ctx: SessionContext) -> tuple[Point, int, int, int, Point, int]:
    """BIP-327 ``(Q, gacc, tacc, b, R, e)``."""
    v = session_values(session_ctx)
    return v.Q, v.gacc, v.tacc, v.b, v.R, v.e


def get_session_key_agg_coeff(session_ctx: SessionContext, P: Point) -> int:
    """KeyAgg coefficient of the signer ``P`` in the session's key list."""
    return key_agg_coeff(session_ctx.pubkeys, P.to_bytes())


# ---------------------------------------------------------------------------------------------
# Signing, verification, aggregation (adaptor-aware)


def partial_signature_scalar(
    k1: int, k2: int, b: int, e: int, weighted_secret: int, negate: bool
) -> int:
    """One signer's partial signature ``s = ±(k1 + b·k2) + e·weighted_secret mod n``.

    ``k1, k2`` are the signer's secret nonce scalars, ``b`` and ``e`` the session's nonce
    coefficient and challenge, ``weighted_secret = a·g·gacc·d`` its secret key times its
    key-aggregation coefficient and the aggregate key's sign; ``negate`` is true when the
    effective nonce ``R + T`` has odd y (BIP-327 Sign, with the adaptor rule above). Summed over
    several signers of one entry the result is the sum of their partial signatures.
    """
    k = k1 + b * k2
    return ((-k if negate else k) + e * weighted_secret) % n


def sign_partial(
    secnonce: SecNonce | bytearray, sk: bytes, session_ctx: SessionContext, adaptor: Point | None
) -> bytes:
    """The 32-byte partial signature of ``sk`` (consumes ``secnonce``), verified before it is
    returned as in the BIP-327 reference: a faulty computation never leaves the signer."""
    values = session_values(session_ctx, adaptor)
    k1, k2, nonce_pk = consume_secnonce(secnonce)
    if not 0 < k1 < n:
        raise ValueError("first secnonce value is out of range.")
    if not 0 < k2 < n:
        raise ValueError("second secnonce value is out of range.")
    d = int.from_bytes(sk, "big")
    if len(sk) != 32 or not 0 < d < n:
        raise ValueError("secret key value is out of range.")
    pk = _pubkey_of(bytes(sk))
    if pk != nonce_pk:
        raise ValueError("Public key does not match nonce_gen argument")
    try:
        a = values.keyagg.coefficients[pk]
    except KeyError:
        raise ValueError("The signer's pubkey must be included in the list of pubkeys.") from None
    s = partial_signature_scalar(
        k1, k2, values.b, values.e, a * values.key_sign * d % n, values.nonce_negated
    )
    psig = s.to_bytes(32, "big")
    if not verify_partial(psig, pubnonce_of(k1, k2), pk, session_ctx, adaptor):
        raise ValueError("the partial signature just computed does not verify")
    return psig


def verify_partial_of_signer(
    psig: bytes,
    pubnonces: Sequence[bytes],
    pubkeys: Sequence[PlainPk],
    tweaks: Sequence[bytes],
    is_xonly: Sequence[bool],
    msg: bytes,
    i: int,
    adaptor: Point | None,
) -> bool:
    """BIP-327 PartialSigVerify of signer ``i`` (the session is built from every pubnonce)."""
    if len(pubnonces) != len(pubkeys):
        raise ValueError("The `pubnonces` and `pubkeys` arrays must have the same length.")
    if len(tweaks) != len(is_xonly):
        raise ValueError("The `tweaks` and `is_xonly` arrays must have the same length.")
    session_ctx = SessionContext(nonce_agg(pubnonces), pubkeys, tweaks, is_xonly, msg)
    return verify_partial(psig, pubnonces[i], pubkeys[i], session_ctx, adaptor)


def verify_partial(
    psig: bytes, pubnonce: bytes, pk: PlainPk, session_ctx: SessionContext, adaptor: Point | None
) -> bool:
    key = _session_key(session_ctx)
    values = _session_values_cached(*key, None if adaptor is None else adaptor.to_bytes())
    if len(psig) != 32 or len(pubnonce) != 66:
        return False
    try:
        P = Point.from_bytes(pk)
    except ValueError:
        return False
    a = values.keyagg.coefficients.get(bytes(pk))
    if a is None:
        raise ValueError("The signer's pubkey must be included in the list of pubkeys.")
    if _lib_fast_path():
        cache = _musig_lib.keyagg_cache(key[1], key[2], key[3])
        if cache is not None:
            session = _musig_lib.session_struct(
                values.nonce_negated, values.R_eff.xonly(), values.b, values.e
            )
            return _musig_lib.verify(bytes(psig), bytes(pubnonce), P, cache, session)
    return _verify_with_points(psig, pubnonce, P, a, values)


def _verify_with_points(
    psig: bytes, pubnonce: bytes, P: Point, a: int, values: SessionValues
) -> bool:
    """``s·G == ±(R1 + b·R2) + (e·a·g·gacc)·P`` with separate libsecp256k1 point operations."""
    s = int.from_bytes(psig, "big")
    if s >= n:
        return False
    try:
        R1 = Point.from_bytes(pubnonce[0:33])
        R2 = Point.from_bytes(pubnonce[33:66])
    except ValueError:
        return False
    Re = point_sum((R1, None if values.b == 0 else R2 * values.b))
    if Re is not None and values.nonce_negated:
        Re = -Re
    c = values.e * a * values.key_sign % n
    rhs = point_sum((Re, None if c == 0 else P * c))
    return generator_mul(s) == rhs


_LIB_FAST_PATH: bool | None = None


def _lib_fast_path() -> bool:
    """True if libsecp256k1's partial-signature verification may be used (checked once)."""
    global _LIB_FAST_PATH
    if _LIB_FAST_PATH is None:
        _LIB_FAST_PATH = _lib_layout_matches()
    return _LIB_FAST_PATH


def _lib_layout_matches() -> bool:
    """Compare our session values with a session libsecp256k1 computed itself."""
    secrets = [bytes((7,)) * 32, bytes((9,)) * 32, bytes((11,)) * 32]
    msg = bytes(range(32))
    tweaks, is_xonly = (bytes((1,)) * 32,), (True,)
    try:
        reference = _musig_lib.reference_session(secrets, msg, tweaks, is_xonly)
        if reference is None:
            return False
        pubkeys, aggnonce, session, pubnonce, psig, signer = reference
        values = _session_values_cached(aggnonce, pubkeys, tweaks, is_xonly, msg, None)
        ours = _musig_lib.session_bytes(
            values.nonce_negated, values.R_eff.xonly(), values.b, values.e
        )
        if ours[:101] != session[:101]:  # magic, parity, x(R), b, e
            return False
        cache = _musig_lib.keyagg_cache(pubkeys, tweaks, is_xonly)
        struct = _musig_lib.session_struct(
            values.nonce_negated, values.R_eff.xonly(), values.b, values.e
        )
        P = Point.from_bytes(signer)
        forged = ((int.from_bytes(psig, "big") + 1) % n).to_bytes(32, "big")
        a = values.keyagg.coefficients[signer]
        return (
            cache is not None
            and _musig_lib.verify(psig, pubnonce, P, cache, struct)
            and not _musig_lib.verify(forged, pubnonce, P, cache, struct)
            and _verify_with_points(psig, pubnonce, P, a, values)
        )
    except (ValueError, TypeError, AttributeError, KeyError):
        return False


def aggregate_partials(
    psigs: Sequence[bytes], session_ctx: SessionContext, adaptor: Point | None
) -> tuple[SessionValues, int]:
    """The session values and the aggregate scalar ``Σ s_i + e·g·tacc`` of ``psigs``."""
    values = session_values(session_ctx, adaptor)
    s = 0
    for i, psig in enumerate(psigs):
        if len(psig) != 32:
            raise InvalidContributionError(i, "psig")
        s_i = int.from_bytes(psig, "big")
        if s_i >= n:
            raise InvalidContributionError(i, "psig")
        s += s_i
    g = 1 if values.Q.has_even_y() else n - 1
    return values, (s + values.e * g * values.tacc) % n
