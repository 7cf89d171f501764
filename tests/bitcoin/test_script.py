"""Script pushes, script numbers and standard output scripts."""

from __future__ import annotations

import pytest

from ticketdlc.bitcoin.script import (
    p2tr_script,
    p2wpkh_script,
    p2wpkh_script_code,
    p2wsh_script,
    push_data,
    push_int,
    script_num_decode,
    script_num_encode,
    witness_program,
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (-1, "4f"),
        (1, "51"),
        (6, "56"),
        (12, "5c"),
        (16, "60"),
        (17, "0111"),
        (25, "0119"),
        (50, "0132"),
        (72, "0148"),
        (127, "017f"),
        (128, "028000"),
        (144, "029000"),
        (288, "022001"),
        (432, "02b001"),
        (864, "026003"),
        (1008, "02f003"),
        (2016, "02e007"),
        (-2, "0182"),
        (-128, "028080"),
        (800000, "0300350c"),
    ],
)
def test_push_int_matches_dlctix_examples(value: int, encoded: str) -> None:
    assert push_int(value).hex() == encoded


@pytest.mark.parametrize("value", [0, 1, -1, 127, 128, -128, 255, 256, 2**31 - 1, -(2**31) + 1])
def test_script_num_round_trip(value: int) -> None:
    assert script_num_decode(script_num_encode(value)) == value


@pytest.mark.parametrize("data", [b"\x00", b"\x01\x00", b"\x80", b"\xff\x00\x00"])
def test_script_num_rejects_non_minimal(data: bytes) -> None:
    with pytest.raises(ValueError, match="non-minimally"):
        script_num_decode(data)
    script_num_decode(data, require_minimal=False)


def test_script_num_too_long() -> None:
    with pytest.raises(ValueError, match="too long"):
        script_num_decode(b"\x01\x02\x03\x04\x05")


@pytest.mark.parametrize(
    ("data", "header"),
    [
        (bytes(32), "20"),
        (b"\x00", "01"),
        (b"\x11", "01"),
        (bytes(75), "4b"),
        (bytes(76), "4c4c"),
        (bytes(255), "4cff"),
        (bytes(256), "4d0001"),
        (bytes(65536), "4e00000100"),
    ],
)
def test_minimal_data_push(data: bytes, header: str) -> None:
    assert push_data(data) == bytes.fromhex(header) + data


@pytest.mark.parametrize(
    ("data", "opcode"), [(b"", "00"), (b"\x05", "55"), (b"\x10", "60"), (b"\x81", "4f")]
)
def test_minimal_opcode_push(data: bytes, opcode: str) -> None:
    assert push_data(data).hex() == opcode


def test_output_scripts() -> None:
    assert p2tr_script(bytes(32)) == b"\x51\x20" + bytes(32)
    assert p2wpkh_script(bytes(20)) == b"\x00\x14" + bytes(20)
    assert p2wsh_script(b"\x51").hex() == (
        "00204ae81572f06e1b88fd5ced7a1a000945432e83e1551e6f721ee9c00b8cc33260"
    )
    assert p2wpkh_script_code(bytes(20)).hex() == "76a914" + "00" * 20 + "88ac"
    assert witness_program(p2tr_script(bytes(32))) == (1, bytes(32))
    assert witness_program(b"\x76\xa9\x14" + bytes(20) + b"\x88\xac") is None
    with pytest.raises(ValueError, match="32 bytes"):
        p2tr_script(bytes(33))
