"""The CBOR subset admitted before ``cbor2`` decodes attestation bytes."""

from __future__ import annotations

import cbor2
import pytest

from coordinator_core.nitro.cbor_gate import MAX_DEPTH, CborError, decode


@pytest.mark.parametrize(
    "value",
    [
        0,
        23,
        24,
        255,
        256,
        2**64 - 1,
        -1,
        -(2**64),
        b"",
        b"\x00" * 300,
        "",
        "ü",
        [],
        {},
        None,
        True,
        False,
        {1: -35},
        {"a": [1, {"b": b"x"}]},
    ],
)
def test_admitted_values_decode_as_cbor2_does(value: object) -> None:
    assert decode(cbor2.dumps(value)) == value


def test_indefinite_arrays_and_maps() -> None:
    assert decode(b"\x9f\x01\x02\xff") == [1, 2]
    assert decode(b"\xbf\x61a\x01\xff") == {"a": 1}
    assert decode(b"\x9f\xff") == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (b"\x01\x02", "trailing"),
        (b"\x18\x05", "shortest"),
        (b"\x19\x00\xff", "shortest"),
        (b"\x1a\x00\x00\xff\xff", "shortest"),
        (b"\x1b\x00\x00\x00\x00\xff\xff\xff\xff", "shortest"),
        (b"\x58\x01\x00", "shortest"),
        (b"\x1c", "reserved"),
        (b"\x5f\x41\x00\xff", "indefinite"),
        (b"\x7f\x61a\xff", "indefinite"),
        (b"\xff", "indefinite"),
        (b"\x9f\x01", "not terminated"),
        (b"\xbf\x61a\xff", "indefinite"),  # break where a value belongs
        (b"\x42\x00", "past the end"),
        (b"\x62\xc3\x28", "UTF-8"),
        (b"\x9a\xff\xff\xff\xff", "more items"),
        (b"\xa1\x41a\x01", "map key"),
        (b"\xa1\x80\x01", "map key"),
        (b"\xa2\x01\x01\x01\x02", "twice"),
        (b"\xc1\x01", "tag 1"),
        (b"\xc2\x41\x01", "tag 2"),
        (b"\xd8\x1c\x01", "tag 28"),
        (b"\xf7", "simple"),
        (b"\xf0", "simple"),
        (b"\xf8\x20", "simple"),
        (b"\xf9\x3c\x00", "floating"),
        (b"\xfb" + b"\x00" * 8, "floating"),
    ],
)
def test_refused(data: bytes, reason: str) -> None:
    with pytest.raises(CborError, match=reason):
        decode(data)


def test_nesting_is_bounded() -> None:
    assert decode(b"\x81" * MAX_DEPTH + b"\x00") is not None
    with pytest.raises(CborError, match="nesting"):
        decode(b"\x81" * (MAX_DEPTH + 1) + b"\x00")
    with pytest.raises(CborError, match="nesting"):
        decode(b"\x9f" * 60_000)  # no recursion blow-up on hostile depth
