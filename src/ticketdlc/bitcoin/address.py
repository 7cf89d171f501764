"""Segwit addresses: bech32 (BIP-173, v0) and bech32m (BIP-350, v1+) for bc, tb and bcrt."""

from __future__ import annotations

from enum import Enum
from typing import Final

from ticketdlc.bitcoin.script import script_for_witness_program, witness_program

CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV: Final = {char: index for index, char in enumerate(CHARSET)}
_BECH32_CONST: Final = 1
_BECH32M_CONST: Final = 0x2BC830A3
MAX_ADDRESS_LENGTH: Final = 90
HRPS: Final = {"mainnet": "bc", "testnet": "tb", "signet": "tb", "regtest": "bcrt"}


class AddressError(ValueError):
    """Invalid address: checksum, characters, prefix, witness version or program length."""


class Encoding(Enum):
    """Checksum variant."""

    BECH32 = _BECH32_CONST
    BECH32M = _BECH32M_CONST


def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                checksum ^= generator[i]
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32_encode(hrp: str, data: list[int], encoding: Encoding) -> str:
    """Encode 5-bit ``data`` with the human-readable part and checksum variant."""
    values = _hrp_expand(hrp) + data
    polymod = _polymod([*values, 0, 0, 0, 0, 0, 0]) ^ encoding.value
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


def bech32_decode(text: str) -> tuple[str, list[int], Encoding]:
    """Decode a bech32/bech32m string into ``(hrp, 5-bit data, encoding)``."""
    if len(text) > MAX_ADDRESS_LENGTH:
        raise AddressError("address too long")
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise AddressError("invalid character")
    if text.lower() != text and text.upper() != text:
        raise AddressError("mixed case")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise AddressError("missing separator or checksum")
    hrp = text[:pos]
    try:
        data = [_CHARSET_REV[c] for c in text[pos + 1 :]]
    except KeyError:
        raise AddressError("invalid data character") from None
    constant = _polymod(_hrp_expand(hrp) + data)
    for encoding in Encoding:
        if constant == encoding.value:
            return hrp, data[:-6], encoding
    raise AddressError("invalid checksum")


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        if value >> from_bits:
            raise AddressError("value out of range")
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_value)
    elif bits >= from_bits or (acc << (to_bits - bits)) & max_value:
        raise AddressError("invalid padding")
    return out


def _check_program(version: int, program: bytes) -> None:
    if not 0 <= version <= 16:
        raise AddressError("invalid witness version")
    if not 2 <= len(program) <= 40:
        raise AddressError("invalid witness program length")
    if version == 0 and len(program) not in (20, 32):
        raise AddressError("invalid v0 witness program length")


def encode_segwit_address(hrp: str, version: int, program: bytes) -> str:
    """Segwit address for a witness version and program."""
    if hrp not in HRPS.values():
        raise AddressError(f"unsupported address prefix {hrp!r}")
    _check_program(version, program)
    encoding = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    return bech32_encode(hrp, [version, *_convert_bits(program, 8, 5, True)], encoding)


def decode_segwit_address(address: str, hrp: str | None = None) -> tuple[str, int, bytes]:
    """Decode and validate a segwit address into ``(hrp, version, program)``.

    If ``hrp`` is given, the address must use it.
    """
    got_hrp, data, encoding = bech32_decode(address)
    if got_hrp not in HRPS.values():
        raise AddressError(f"unsupported address prefix {got_hrp!r}")
    if hrp is not None and got_hrp != hrp:
        raise AddressError(f"address prefix {got_hrp!r} does not match {hrp!r}")
    if not data:
        raise AddressError("empty data")
    version = data[0]
    program = bytes(_convert_bits(data[1:], 5, 8, False))
    _check_program(version, program)
    expected = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    if encoding is not expected:
        raise AddressError("wrong checksum variant for the witness version")
    return got_hrp, version, program


def address_to_script_pubkey(address: str, hrp: str | None = None) -> bytes:
    """scriptPubKey paid by a segwit address."""
    _, version, program = decode_segwit_address(address, hrp)
    return script_for_witness_program(version, program)


def script_pubkey_to_address(script_pubkey: bytes, hrp: str) -> str:
    """Segwit address of a witness-program scriptPubKey."""
    parsed = witness_program(script_pubkey)
    if parsed is None:
        raise AddressError("not a segwit output script")
    return encode_segwit_address(hrp, *parsed)
