"""Output script classification (policy and Esplora's ``scriptpubkey_type``) and script asm."""

from __future__ import annotations

from typing import Final

from ticketdlc.bitcoin.address import AddressError, script_pubkey_to_address
from ticketdlc.bitcoin.anchor import is_anchor_script
from ticketdlc.bitcoin.script import OP_CHECKMULTISIG, OP_CHECKSIG, OP_RETURN, witness_program

REGTEST_HRP: Final = "bcrt"
MAX_SCRIPT_SIZE: Final = 10_000

_NAMES: Final[dict[int, str]] = {
    0x00: "OP_0",
    0x4C: "OP_PUSHDATA1",
    0x4D: "OP_PUSHDATA2",
    0x4E: "OP_PUSHDATA4",
    0x4F: "OP_PUSHNUM_NEG1",
    0x50: "OP_RESERVED",
    **{0x50 + n: f"OP_PUSHNUM_{n}" for n in range(1, 17)},
    0x61: "OP_NOP",
    0x62: "OP_VER",
    0x63: "OP_IF",
    0x64: "OP_NOTIF",
    0x65: "OP_VERIF",
    0x66: "OP_VERNOTIF",
    0x67: "OP_ELSE",
    0x68: "OP_ENDIF",
    0x69: "OP_VERIFY",
    0x6A: "OP_RETURN",
    0x6B: "OP_TOALTSTACK",
    0x6C: "OP_FROMALTSTACK",
    0x6D: "OP_2DROP",
    0x6E: "OP_2DUP",
    0x6F: "OP_3DUP",
    0x70: "OP_2OVER",
    0x71: "OP_2ROT",
    0x72: "OP_2SWAP",
    0x73: "OP_IFDUP",
    0x74: "OP_DEPTH",
    0x75: "OP_DROP",
    0x76: "OP_DUP",
    0x77: "OP_NIP",
    0x78: "OP_OVER",
    0x79: "OP_PICK",
    0x7A: "OP_ROLL",
    0x7B: "OP_ROT",
    0x7C: "OP_SWAP",
    0x7D: "OP_TUCK",
    0x7E: "OP_CAT",
    0x7F: "OP_SUBSTR",
    0x80: "OP_LEFT",
    0x81: "OP_RIGHT",
    0x82: "OP_SIZE",
    0x83: "OP_INVERT",
    0x84: "OP_AND",
    0x85: "OP_OR",
    0x86: "OP_XOR",
    0x87: "OP_EQUAL",
    0x88: "OP_EQUALVERIFY",
    0x89: "OP_RESERVED1",
    0x8A: "OP_RESERVED2",
    0x8B: "OP_1ADD",
    0x8C: "OP_1SUB",
    0x8D: "OP_2MUL",
    0x8E: "OP_2DIV",
    0x8F: "OP_NEGATE",
    0x90: "OP_ABS",
    0x91: "OP_NOT",
    0x92: "OP_0NOTEQUAL",
    0x93: "OP_ADD",
    0x94: "OP_SUB",
    0x95: "OP_MUL",
    0x96: "OP_DIV",
    0x97: "OP_MOD",
    0x98: "OP_LSHIFT",
    0x99: "OP_RSHIFT",
    0x9A: "OP_BOOLAND",
    0x9B: "OP_BOOLOR",
    0x9C: "OP_NUMEQUAL",
    0x9D: "OP_NUMEQUALVERIFY",
    0x9E: "OP_NUMNOTEQUAL",
    0x9F: "OP_LESSTHAN",
    0xA0: "OP_GREATERTHAN",
    0xA1: "OP_LESSTHANOREQUAL",
    0xA2: "OP_GREATERTHANOREQUAL",
    0xA3: "OP_MIN",
    0xA4: "OP_MAX",
    0xA5: "OP_WITHIN",
    0xA6: "OP_RIPEMD160",
    0xA7: "OP_SHA1",
    0xA8: "OP_SHA256",
    0xA9: "OP_HASH160",
    0xAA: "OP_HASH256",
    0xAB: "OP_CODESEPARATOR",
    0xAC: "OP_CHECKSIG",
    0xAD: "OP_CHECKSIGVERIFY",
    0xAE: "OP_CHECKMULTISIG",
    0xAF: "OP_CHECKMULTISIGVERIFY",
    0xB0: "OP_NOP1",
    0xB1: "OP_CLTV",
    0xB2: "OP_CSV",
    **{0xB3 + n: f"OP_NOP{n + 4}" for n in range(7)},
    0xBA: "OP_CHECKSIGADD",
}


def script_type(script: bytes) -> str:
    """Esplora's ``scriptpubkey_type`` of an output script."""
    if is_anchor_script(script):
        return "anchor"
    program = witness_program(script)
    if program is not None:
        version, data = program
        if version == 0 and len(data) == 20:
            return "v0_p2wpkh"
        if version == 0 and len(data) == 32:
            return "v0_p2wsh"
        if version == 1 and len(data) == 32:
            return "v1_p2tr"
        return "unknown" if version == 0 else f"v{version}_unknown"
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return "p2pkh"
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return "p2sh"
    if script and script[0] == OP_RETURN:
        return "op_return"
    if len(script) in (35, 67) and script[0] == len(script) - 2 and script[-1] == OP_CHECKSIG:
        return "p2pk"
    if _is_bare_multisig(script):
        return "multisig"
    if not script:
        return "empty"
    return "unknown"


def is_standard_output(script: bytes) -> bool:
    """Bitcoin Core's ``IsStandard`` for an output script (bare multisig up to 3 keys)."""
    kind = script_type(script)
    if kind == "op_return":
        return is_push_only(script[1:])
    return kind not in ("unknown", "empty")


def is_unspendable(script: bytes) -> bool:
    """Provably unspendable: starts with OP_RETURN or is larger than the script size limit."""
    return (bool(script) and script[0] == OP_RETURN) or len(script) > MAX_SCRIPT_SIZE


def address_of(script: bytes, hrp: str = REGTEST_HRP) -> str | None:
    """Regtest address of a segwit output script, ``None`` for other scripts."""
    if witness_program(script) is None:
        return None
    try:
        return script_pubkey_to_address(script, hrp)
    except AddressError:
        return None


def _is_bare_multisig(script: bytes) -> bool:
    if len(script) < 37 or script[-1] != OP_CHECKMULTISIG:
        return False
    m, n = script[0] - 0x50, script[-2] - 0x50
    if not (1 <= m <= n <= 3):
        return False
    pos, keys = 1, 0
    while pos < len(script) - 2:
        size = script[pos]
        if size not in (33, 65):
            return False
        pos += 1 + size
        keys += 1
    return pos == len(script) - 2 and keys == n


def is_push_only(script: bytes) -> bool:
    """Only data pushes and OP_0..OP_16 (and well-formed)."""
    try:
        return all(op <= 0x60 for op, _ in iterate_script(script))
    except ValueError:
        return False


def iterate_script(script: bytes) -> list[tuple[int, bytes | None]]:
    """``(opcode, pushed data or None)`` pairs; raises ``ValueError`` on a truncated push."""
    items: list[tuple[int, bytes | None]] = []
    pos = 0
    while pos < len(script):
        op = script[pos]
        pos += 1
        if 0 < op < 0x4C:
            size = op
        elif op in (0x4C, 0x4D, 0x4E):
            width = {0x4C: 1, 0x4D: 2, 0x4E: 4}[op]
            if pos + width > len(script):
                raise ValueError("truncated push length")
            size = int.from_bytes(script[pos : pos + width], "little")
            pos += width
        else:
            items.append((op, None))
            continue
        if pos + size > len(script):
            raise ValueError("push past the end of the script")
        items.append((op, script[pos : pos + size]))
        pos += size
    return items


def script_asm(script: bytes) -> str:
    """rust-bitcoin style asm, as Esplora shows it (``OP_PUSHBYTES_32 <hex>`` …)."""
    parts: list[str] = []
    try:
        items = iterate_script(script)
    except ValueError:
        return "<invalid script: " + script.hex() + ">"
    for op, data in items:
        if data is None:
            parts.append(_NAMES.get(op, f"OP_RETURN_{op}"))
        elif op < 0x4C:
            parts.append(f"OP_PUSHBYTES_{op} {data.hex()}")
        else:
            parts.append(f"{_NAMES[op]} {data.hex()}")
    return " ".join(parts)
