"""Segwit addresses: BIP-350 examples, round trips and every rejection rule."""

from __future__ import annotations

import random

import pytest
from embit.script import address_to_scriptpubkey

from ticketdlc.bitcoin.address import (
    AddressError,
    Encoding,
    _convert_bits,
    address_to_script_pubkey,
    bech32_encode,
    decode_segwit_address,
    encode_segwit_address,
    script_pubkey_to_address,
)

VALID = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
]


@pytest.mark.parametrize(("address", "script_hex"), VALID)
def test_bip350_examples(address: str, script_hex: str) -> None:
    assert address_to_script_pubkey(address).hex() == script_hex
    hrp = address.lower().split("1")[0]
    assert script_pubkey_to_address(bytes.fromhex(script_hex), hrp) == address.lower()


@pytest.mark.parametrize("hrp", ["bc", "tb", "bcrt"])
@pytest.mark.parametrize(("version", "length"), [(0, 20), (0, 32), (1, 32), (2, 2), (16, 40)])
def test_round_trip_and_cross_check(hrp: str, version: int, length: int) -> None:
    program = random.Random(version * 100 + length).randbytes(length)
    address = encode_segwit_address(hrp, version, program)
    assert decode_segwit_address(address) == (hrp, version, program)
    assert decode_segwit_address(address.upper(), hrp) == (hrp, version, program)
    if version <= 1:  # embit knows v0 and v1 only
        assert address_to_script_pubkey(address) == address_to_scriptpubkey(address).data


def _raw(hrp: str, version: int, program: bytes, encoding: Encoding) -> str:
    return bech32_encode(hrp, [version, *_convert_bits(program, 8, 5, True)], encoding)


@pytest.mark.parametrize(
    "address",
    [
        _raw("bc", 1, bytes(32), Encoding.BECH32),  # v1 needs bech32m
        _raw("bc", 0, bytes(20), Encoding.BECH32M),  # v0 needs bech32
        _raw("bc", 0, bytes(21), Encoding.BECH32),  # v0 program length
        _raw("bc", 1, bytes(41), Encoding.BECH32M),  # program too long
        _raw("bc", 1, bytes(1), Encoding.BECH32M),  # program too short
        _raw("bc", 17, bytes(32), Encoding.BECH32M),  # witness version 17
        _raw("xx", 1, bytes(32), Encoding.BECH32M),  # unknown prefix
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj1",  # checksum
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzK5jj0",  # mixed case
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzb5jj0",  # 'b' not in charset
        "bc1",
        "",
        "bc1" + "q" * 100,
    ],
)
def test_invalid_addresses(address: str) -> None:
    with pytest.raises(AddressError):
        decode_segwit_address(address)


def test_network_mismatch() -> None:
    address = encode_segwit_address("tb", 1, bytes(32))
    with pytest.raises(AddressError):
        decode_segwit_address(address, "bcrt")
    with pytest.raises(AddressError):
        encode_segwit_address("ltc", 1, bytes(32))
    with pytest.raises(AddressError):
        script_pubkey_to_address(b"\x76\xa9", "bc")
