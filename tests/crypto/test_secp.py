"""Point and scalar helpers against a pure-Python reference."""

from __future__ import annotations

import pickle
import random

import pytest

from tests.crypto import reference_ec as ref
from ticketdlc.crypto.secp import (
    CURVE_ORDER,
    G,
    InfinityError,
    Point,
    bytes_from_int,
    cbytes_ext,
    cpoint_ext,
    generator_mul,
    point_mul_ext,
    point_sum,
    scalar_from_bytes,
    scalar_from_bytes_nonzero,
    tagged_hash,
    xor_bytes,
)

RNG = random.Random(7)


def rand_scalar() -> int:
    return RNG.randrange(1, CURVE_ORDER)


def test_generator_matches_reference() -> None:
    assert G.to_bytes() == ref.compress(ref.G)
    assert Point.generator() is G
    assert Point.from_secret(1) == G


@pytest.mark.parametrize("trial", range(20))
def test_arithmetic_matches_reference(trial: int) -> None:
    a, b, k = rand_scalar(), rand_scalar(), rand_scalar()
    pa, pb = Point.from_secret(a), Point.from_secret(bytes_from_int(b))
    ra, rb = ref.mul(ref.G, a), ref.mul(ref.G, b)
    assert pa.to_bytes() == ref.compress(ra)
    assert (pa + pb).to_bytes() == ref.compress(ref.add(ra, rb))
    assert (pa - pb).to_bytes() == ref.compress(ref.add(ra, ref.neg(rb)))
    assert (-pa).to_bytes() == ref.compress(ref.neg(ra))
    assert (pa * k).to_bytes() == ref.compress(ref.mul(ra, k))
    assert (k * pa) == pa * k
    assert pa.add_base_mul(k).to_bytes() == ref.compress(ref.add(ra, ref.mul(ref.G, k)))
    assert G * a == pa
    assert pa.xonly() == ref.compress(ra)[1:]
    assert pa.has_even_y() == (ra is not None and ra[1] % 2 == 0)
    assert pa.with_even_y().has_even_y()


def test_negation_of_fresh_point_keeps_cached_encoding_consistent() -> None:
    p = Point.from_secret(rand_scalar())
    neg_unserialized = -Point(p._raw)  # no cached encoding yet
    assert neg_unserialized.to_bytes() == (-p).to_bytes()
    negated = -p
    assert -negated == p


def test_from_bytes_and_xonly() -> None:
    p = Point.from_secret(rand_scalar())
    assert Point.from_bytes(p.to_bytes()) == p
    lifted = Point.from_xonly(p.xonly())
    assert lifted.has_even_y()
    assert lifted.xonly() == p.xonly()
    expected = ref.lift_x(int.from_bytes(p.xonly(), "big"))
    assert lifted.to_bytes() == ref.compress(expected)


@pytest.mark.parametrize(
    "data",
    [
        bytes(33),
        b"\x04" + bytes(32),
        b"\x02" + (ref.P).to_bytes(32, "big"),  # x = p is not a field element
        b"\x02" + (5).to_bytes(32, "big"),  # x = 5 is not on the curve
        b"\x02" + bytes(31),
    ],
)
def test_invalid_encodings_rejected(data: bytes) -> None:
    with pytest.raises(ValueError, match="point"):
        Point.from_bytes(data)


def test_xonly_not_on_curve() -> None:
    with pytest.raises(ValueError, match="invalid point"):
        Point.from_xonly((5).to_bytes(32, "big"))


def test_infinity_handling() -> None:
    p = Point.from_secret(rand_scalar())
    with pytest.raises(InfinityError):
        _ = p + (-p)
    with pytest.raises(InfinityError):
        _ = p * CURVE_ORDER
    with pytest.raises(InfinityError):
        _ = p - p
    assert point_sum([p, -p]) is None
    assert point_sum([None, p]) == p
    assert point_sum([]) is None
    assert point_mul_ext(p, 0) is None
    assert point_mul_ext(None, 5) is None
    assert generator_mul(0) is None
    assert cbytes_ext(None) == bytes(33)
    assert cpoint_ext(bytes(33)) is None
    assert cpoint_ext(p.to_bytes()) == p


def test_point_sum_many_matches_reference() -> None:
    scalars = [rand_scalar() for _ in range(6)]
    total = point_sum(Point.from_secret(s) for s in scalars)
    assert total == Point.from_secret(sum(scalars) % CURVE_ORDER)


def test_equality_hash_order_pickle() -> None:
    a = Point.from_secret(3)
    b = Point.from_secret(bytes_from_int(3))
    assert a == b and hash(a) == hash(b)
    assert len({a, b, Point.from_secret(4)}) == 2
    c = Point.from_secret(5)
    assert (a < c) == (a.to_bytes() < c.to_bytes())
    assert pickle.loads(pickle.dumps(a)) == a


def test_secret_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Point.from_secret(0)
    with pytest.raises(ValueError, match="out of range"):
        Point.from_secret(CURVE_ORDER)
    with pytest.raises(ValueError, match="out of range"):
        Point.from_secret(bytes(32))


def test_scalar_helpers() -> None:
    assert scalar_from_bytes(bytes(32)) == 0
    with pytest.raises(ValueError, match="out of range"):
        scalar_from_bytes(CURVE_ORDER.to_bytes(32, "big"))
    with pytest.raises(ValueError, match="zero"):
        scalar_from_bytes_nonzero(bytes(32))
    with pytest.raises(ValueError, match="32 bytes"):
        scalar_from_bytes(bytes(31))
    assert xor_bytes(b"\x0f\xf0", b"\xff\xff") == b"\xf0\x0f"


def test_tagged_hash() -> None:
    import hashlib

    tag = hashlib.sha256(b"BIP0340/challenge").digest()
    expected = hashlib.sha256(tag + tag + b"msg").digest()
    assert tagged_hash("BIP0340/challenge", b"msg") == expected
    assert tagged_hash("BIP0340/challenge", b"msg") == expected  # cached prefix path
