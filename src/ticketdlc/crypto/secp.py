"""secp256k1 points and scalars on top of coincurve's bundled libsecp256k1.

Every point operation is a libsecp256k1 call through coincurve's cffi binding; this module
does no elliptic-curve arithmetic of its own. Scalars are Python ints reduced mod ``CURVE_ORDER``.

The point at infinity is not a :class:`Point`. Operations whose result can be infinity only
with adversarial input (``+``, ``-``, ``*``) raise :class:`InfinityError`; where BIP-327 needs
infinity as a value (aggregate nonces), the ``*_ext`` helpers take and return ``Point | None``,
with ``None`` meaning infinity (encoded as 33 zero bytes by :func:`cbytes_ext`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Final

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from ticketdlc.typed_bytes import CompressedPubkey, XOnlyPubkey

CURVE_ORDER: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
FIELD_SIZE: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F

_CTX: Final = GLOBAL_CONTEXT.ctx
_COMPRESSED: Final = lib.SECP256K1_EC_COMPRESSED
_PUBKEY_SIZE: Final = 64  # sizeof(secp256k1_pubkey), libsecp256k1's opaque point form
INFINITY_BYTES: Final = bytes(33)


class InfinityError(ValueError):
    """An operation produced (or was given) the point at infinity where a point is required."""


# ---------------------------------------------------------------------------------------------
# Scalars and hashes


def bytes_from_int(value: int) -> bytes:
    """32-byte big-endian encoding of ``value`` (0 <= value < 2^256)."""
    return value.to_bytes(32, "big")


def scalar_from_bytes(data: bytes) -> int:
    """Parse a 32-byte scalar, rejecting values >= n (zero is allowed)."""
    if len(data) != 32:
        raise ValueError("a scalar is 32 bytes")
    value = int.from_bytes(data, "big")
    if value >= CURVE_ORDER:
        raise ValueError("scalar out of range")
    return value


def scalar_from_bytes_nonzero(data: bytes) -> int:
    """Parse a 32-byte scalar in [1, n-1] (a valid secret key)."""
    value = scalar_from_bytes(data)
    if value == 0:
        raise ValueError("scalar is zero")
    return value


def scalar_reduce(data: bytes) -> int:
    """Interpret ``data`` as a big-endian integer reduced mod n (hash outputs)."""
    return int.from_bytes(data, "big") % CURVE_ORDER


def scalar_to_bytes(value: int) -> bytes:
    """32-byte big-endian encoding of ``value mod n``."""
    return (value % CURVE_ORDER).to_bytes(32, "big")


_TAG_PREFIX: dict[str, Any] = {}


def tagged_hash(tag: str, msg: bytes) -> bytes:
    """BIP-340 tagged hash ``SHA256(SHA256(tag) || SHA256(tag) || msg)``."""
    prefix = _TAG_PREFIX.get(tag)
    if prefix is None:
        tag_digest = hashlib.sha256(tag.encode()).digest()
        prefix = hashlib.sha256(tag_digest + tag_digest)
        _TAG_PREFIX[tag] = prefix
    hasher = prefix.copy()
    hasher.update(msg)
    digest: bytes = hasher.digest()
    return digest


def xor_bytes(left: bytes, right: bytes) -> bytes:
    """Byte-wise XOR of two equal-length strings."""
    if len(left) != len(right):
        raise ValueError("xor of unequal lengths")
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).to_bytes(len(left), "big")


# ---------------------------------------------------------------------------------------------
# Points


def _new_raw() -> Any:
    return ffi.new("secp256k1_pubkey *")


def _copy_raw(raw: Any) -> Any:
    out = ffi.new("secp256k1_pubkey *")
    ffi.memmove(out, raw, _PUBKEY_SIZE)
    return out


class Point:
    """An immutable secp256k1 point (never infinity).

    Holds libsecp256k1's parsed form plus its lazily computed compressed encoding, so repeated
    arithmetic and serialization never re-parse. Compare, hash and order by the 33-byte
    compressed encoding (the order is BIP-327 KeySort).
    """

    __slots__ = ("__weakref__", "_raw", "_ser")

    _raw: Any
    _ser: CompressedPubkey | None

    def __init__(self, raw: Any, ser: CompressedPubkey | None = None) -> None:
        """Wrap a ``secp256k1_pubkey *``; use the ``from_*`` constructors instead."""
        self._raw = raw
        self._ser = ser

    # -- constructors --------------------------------------------------------------------

    @staticmethod
    def from_bytes(data: bytes) -> Point:
        """Parse a 33-byte compressed point (raises ``ValueError`` if invalid)."""
        return _parse_compressed(bytes(data))

    @staticmethod
    def from_xonly(data: bytes) -> Point:
        """BIP-340 ``lift_x``: the point with x coordinate ``data`` and even y."""
        if len(data) != 32:
            raise ValueError("an x-only key is 32 bytes")
        return _parse_compressed(b"\x02" + bytes(data))

    @staticmethod
    def from_secret(secret: int | bytes) -> Point:
        """``secret·G`` for a scalar in [1, n-1] (int or 32 bytes)."""
        if isinstance(secret, int):
            if not 0 < secret < CURVE_ORDER:
                raise ValueError("secret out of range")
            secret = secret.to_bytes(32, "big")
        elif len(secret) != 32:
            raise ValueError("a secret is 32 bytes")
        raw = _new_raw()
        if not lib.secp256k1_ec_pubkey_create(_CTX, raw, secret):
            raise ValueError("secret out of range")
        return Point(raw)

    @staticmethod
    def generator() -> Point:
        """The generator G."""
        return G

    # -- encodings -----------------------------------------------------------------------

    def to_bytes(self) -> CompressedPubkey:
        """33-byte compressed encoding."""
        ser = self._ser
        if ser is None:
            out = ffi.new("unsigned char[33]")
            size = ffi.new("size_t *", 33)
            lib.secp256k1_ec_pubkey_serialize(_CTX, out, size, self._raw, _COMPRESSED)
            ser = CompressedPubkey(bytes(out))
            self._ser = ser
        return ser

    def xonly(self) -> XOnlyPubkey:
        """32-byte x coordinate."""
        return XOnlyPubkey(self.to_bytes()[1:])

    def has_even_y(self) -> bool:
        """True if the y coordinate is even."""
        return self.to_bytes()[0] == 2

    def with_even_y(self) -> Point:
        """This point, or its negation if y is odd."""
        return self if self.has_even_y() else -self

    def hex(self) -> str:
        """Compressed encoding as lowercase hex."""
        return self.to_bytes().hex()

    # -- arithmetic ----------------------------------------------------------------------

    def __add__(self, other: Point) -> Point:
        if not isinstance(other, Point):
            return NotImplemented
        result = point_sum((self, other))
        if result is None:
            raise InfinityError("point sum is infinity")
        return result

    def __neg__(self) -> Point:
        raw = _copy_raw(self._raw)
        lib.secp256k1_ec_pubkey_negate(_CTX, raw)
        ser = self._ser
        negated = None if ser is None else CompressedPubkey(bytes((ser[0] ^ 1,)) + ser[1:])
        return Point(raw, negated)

    def __sub__(self, other: Point) -> Point:
        if not isinstance(other, Point):
            return NotImplemented
        return self + (-other)

    def __mul__(self, scalar: int) -> Point:
        if not isinstance(scalar, int):
            return NotImplemented
        scalar %= CURVE_ORDER
        if scalar == 0:
            raise InfinityError("multiplication by zero")
        if scalar == 1:
            return self
        if self is G:
            return Point.from_secret(scalar)
        raw = _copy_raw(self._raw)
        lib.secp256k1_ec_pubkey_tweak_mul(_CTX, raw, scalar.to_bytes(32, "big"))
        return Point(raw)

    __rmul__ = __mul__

    def add_base_mul(self, scalar: int) -> Point:
        """``self + scalar·G`` in one libsecp256k1 call (raises on infinity)."""
        scalar %= CURVE_ORDER
        if scalar == 0:
            return self
        raw = _copy_raw(self._raw)
        if not lib.secp256k1_ec_pubkey_tweak_add(_CTX, raw, scalar.to_bytes(32, "big")):
            raise InfinityError("point sum is infinity")
        return Point(raw)

    # -- comparison ----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return self is other or self.to_bytes() == other.to_bytes()

    def __lt__(self, other: Point) -> bool:
        return self.to_bytes() < other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"Point({self.hex()})"

    def __copy__(self) -> Point:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Point:
        return self

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (Point.from_bytes, (self.to_bytes(),))


@lru_cache(maxsize=8192)
def _parse_compressed(data: bytes) -> Point:
    # Points are immutable, so a parse cache is safe and saves ~6 µs per repeated key.
    if len(data) != 33 or data[0] not in (2, 3):
        raise ValueError("not a compressed point")
    raw = _new_raw()
    if not lib.secp256k1_ec_pubkey_parse(_CTX, raw, data, 33):
        raise ValueError("invalid point encoding")
    return Point(raw, CompressedPubkey(data))


def _make_generator() -> Point:
    raw = _new_raw()
    lib.secp256k1_ec_pubkey_create(_CTX, raw, (1).to_bytes(32, "big"))
    return Point(raw)


G: Final = _make_generator()


# ---------------------------------------------------------------------------------------------
# Helpers that allow the point at infinity (None)


def point_sum(points: Iterable[Point | None]) -> Point | None:
    """Sum of points; ``None`` terms are infinity; returns ``None`` for an infinite sum."""
    present = [p for p in points if p is not None]
    if len(present) <= 1:
        return present[0] if present else None
    raws = [p._raw for p in present]
    out = _new_raw()
    array = ffi.new("secp256k1_pubkey *[]", raws)
    if not lib.secp256k1_ec_pubkey_combine(_CTX, out, array, len(raws)):
        return None
    return Point(out)


def point_mul_ext(point: Point | None, scalar: int) -> Point | None:
    """``scalar·point`` where either side may give infinity (``None``)."""
    if point is None or scalar % CURVE_ORDER == 0:
        return None
    return point * scalar


def cbytes_ext(point: Point | None) -> bytes:
    """Compressed encoding with infinity as 33 zero bytes (BIP-327 ``cbytes_ext``)."""
    return INFINITY_BYTES if point is None else point.to_bytes()


def cpoint_ext(data: bytes) -> Point | None:
    """Parse a compressed point or 33 zero bytes (infinity, returned as ``None``)."""
    if data == INFINITY_BYTES:
        return None
    return Point.from_bytes(data)


def generator_mul(scalar: int) -> Point | None:
    """``scalar·G`` (``None`` when the scalar is 0 mod n)."""
    scalar %= CURVE_ORDER
    if scalar == 0:
        return None
    return Point.from_secret(scalar)
