"""Script building: opcodes, minimal pushes and numbers, standard output scripts."""

from __future__ import annotations

from typing import Final

from ticketdlc.bitcoin.encoding import sha256

OP_0: Final = 0x00
OP_PUSHDATA1: Final = 0x4C
OP_PUSHDATA2: Final = 0x4D
OP_PUSHDATA4: Final = 0x4E
OP_1NEGATE: Final = 0x4F
OP_1: Final = 0x51
OP_16: Final = 0x60
OP_IF: Final = 0x63
OP_NOTIF: Final = 0x64
OP_ELSE: Final = 0x67
OP_ENDIF: Final = 0x68
OP_VERIFY: Final = 0x69
OP_RETURN: Final = 0x6A
OP_DROP: Final = 0x75
OP_DUP: Final = 0x76
OP_EQUAL: Final = 0x87
OP_EQUALVERIFY: Final = 0x88
OP_SIZE: Final = 0x82
OP_SHA256: Final = 0xA8
OP_HASH160: Final = 0xA9
OP_CHECKSIG: Final = 0xAC
OP_CHECKSIGVERIFY: Final = 0xAD
OP_CHECKMULTISIG: Final = 0xAE
OP_CHECKLOCKTIMEVERIFY: Final = 0xB1
OP_CHECKSEQUENCEVERIFY: Final = 0xB2
OP_CHECKSIGADD: Final = 0xBA
OP_TRUE: Final = OP_1


def push_data(data: bytes) -> bytes:
    """Minimal push of ``data`` (Bitcoin Core's ``CheckMinimalPush`` rules).

    Empty data is ``OP_0``, the single bytes 1..16 are ``OP_1``..``OP_16`` and 0x81 is
    ``OP_1NEGATE``; otherwise the shortest direct or PUSHDATA form.
    """
    length = len(data)
    if length == 0:
        return bytes((OP_0,))
    if length == 1 and 1 <= data[0] <= 16:
        return bytes((OP_1 + data[0] - 1,))
    if length == 1 and data[0] == 0x81:
        return bytes((OP_1NEGATE,))
    if length < OP_PUSHDATA1:
        return bytes((length,)) + data
    if length <= 0xFF:
        return bytes((OP_PUSHDATA1, length)) + data
    if length <= 0xFFFF:
        return bytes((OP_PUSHDATA2,)) + length.to_bytes(2, "little") + data
    if length <= 0xFFFF_FFFF:
        return bytes((OP_PUSHDATA4,)) + length.to_bytes(4, "little") + data
    raise ValueError("push too large")


def script_num_encode(value: int) -> bytes:
    """CScriptNum encoding: minimal little-endian magnitude with a sign bit."""
    if value == 0:
        return b""
    magnitude = abs(value)
    out = bytearray()
    while magnitude:
        out.append(magnitude & 0xFF)
        magnitude >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if value < 0 else 0x00)
    elif value < 0:
        out[-1] |= 0x80
    return bytes(out)


def script_num_decode(data: bytes, max_size: int = 4, require_minimal: bool = True) -> int:
    """Decode a CScriptNum of at most ``max_size`` bytes."""
    if len(data) > max_size:
        raise ValueError("script number too long")
    if not data:
        return 0
    if require_minimal and data[-1] & 0x7F == 0 and (len(data) == 1 or not data[-2] & 0x80):
        raise ValueError("non-minimally encoded script number")
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


def push_int(value: int) -> bytes:
    """Minimal push of an integer (rust-bitcoin ``push_int``): OP_0, OP_1NEGATE, OP_1..OP_16,
    otherwise a data push of its CScriptNum encoding."""
    if value == 0:
        return bytes((OP_0,))
    if value == -1:
        return bytes((OP_1NEGATE,))
    if 1 <= value <= 16:
        return bytes((OP_1 + value - 1,))
    return push_data(script_num_encode(value))


def p2tr_script(output_key_xonly: bytes) -> bytes:
    """``OP_1 <32-byte x-only output key>``."""
    if len(output_key_xonly) != 32:
        raise ValueError("a taproot output key is 32 bytes")
    return bytes((OP_1, 32)) + output_key_xonly


def p2wpkh_script(pubkey_hash: bytes) -> bytes:
    """``OP_0 <20-byte HASH160(pubkey)>``."""
    if len(pubkey_hash) != 20:
        raise ValueError("a pubkey hash is 20 bytes")
    return bytes((OP_0, 20)) + pubkey_hash


def p2wpkh_script_code(pubkey_hash: bytes) -> bytes:
    """BIP-143 scriptCode for a P2WPKH input: ``DUP HASH160 <h> EQUALVERIFY CHECKSIG``."""
    if len(pubkey_hash) != 20:
        raise ValueError("a pubkey hash is 20 bytes")
    return bytes((OP_DUP, OP_HASH160, 20)) + pubkey_hash + bytes((OP_EQUALVERIFY, OP_CHECKSIG))


def p2wsh_script(witness_script: bytes) -> bytes:
    """``OP_0 <32-byte SHA256(witness_script)>``."""
    return bytes((OP_0, 32)) + sha256(witness_script)


def witness_program(script_pubkey: bytes) -> tuple[int, bytes] | None:
    """``(version, program)`` if ``script_pubkey`` is a segwit output script, else ``None``."""
    if not 4 <= len(script_pubkey) <= 42:
        return None
    opcode = script_pubkey[0]
    if opcode == OP_0:
        version = 0
    elif OP_1 <= opcode <= OP_16:
        version = opcode - OP_1 + 1
    else:
        return None
    if script_pubkey[1] != len(script_pubkey) - 2:
        return None
    return version, script_pubkey[2:]


def script_for_witness_program(version: int, program: bytes) -> bytes:
    """Output script ``OP_n <program>`` for a witness version and program."""
    if not 0 <= version <= 16 or not 2 <= len(program) <= 40:
        raise ValueError("invalid witness program")
    opcode = OP_0 if version == 0 else OP_1 + version - 1
    return bytes((opcode, len(program))) + program
