"""MuSig2 rounds of a simulated enclave, for all the participants it holds at once.

An enclave holding several participants of an item signs for them as one: one nonce pair and
one partial signature carrying the sum of their key shares ``Σ a_i·d_i``. Nonce and
partial-signature aggregation are sums, so the result is exactly BIP-327's signature of the
group. Secret nonces are derived from a per-round random seed held only in memory
(:func:`ticketdlc.contract.engine.derive_nonce`) and bound to the members' secrets, so a round
that is lost is restarted with a new seed, never reused.

Adaptor items follow the musig2-crate convention of :mod:`ticketdlc.crypto.adaptor`: the nonce
coefficient ignores the adaptor point, ``R + T`` decides the parity and the challenge, and the
result is the 65-byte ``R || s'``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ticketdlc.contract.engine import derive_nonce
from ticketdlc.crypto import adaptor, bip340, musig2
from ticketdlc.crypto.musig_core import aggregate_session, partial_signature_scalar
from ticketdlc.crypto.secp import CURVE_ORDER, Point, point_sum

n: Final = CURVE_ORDER


@dataclass(frozen=True)
class SigningItem:
    """One decrypted batch item, as every enclave of the session sees it."""

    index: int
    batch_item_id: str
    message: bytes
    signers: tuple[bytes, ...]  # KeySort-ed compressed keys of the signing group
    tweaks: tuple[bytes, ...]
    is_xonly: tuple[bool, ...]
    adaptor_id: str | None
    adaptor_point: bytes | None

    def session(self, aggnonce: bytes) -> musig2.SessionValues:
        point = None if self.adaptor_point is None else Point.from_bytes(self.adaptor_point)
        context = musig2.SessionContext(
            aggnonce, self.signers, self.tweaks, self.is_xonly, self.message
        )
        return musig2.session_values(context, point)


@dataclass(frozen=True)
class LocalSigner:
    """A participant key held by the enclave."""

    pubkey: bytes
    secret: bytes


@dataclass(frozen=True)
class LocalGroup:
    """The enclave's members of one signing group: one nonce pair and one summed share."""

    members: tuple[LocalSigner, ...]
    binding: bytes  # binds the group's nonces to its members' secrets
    weighted: int  # Σ a_i·d_i over the members (KeyAgg coefficients of the group)


Groups = dict[tuple[bytes, ...], "LocalGroup | None"]
"""Signing group (sorted keys) -> the enclave's share of it."""


class LocalGroups:
    """Per signing group, what the enclave holds of it (computed once per round)."""

    def __init__(self, local: Mapping[bytes, LocalSigner]) -> None:
        self.local = local
        self._groups: Groups = {}

    def table(self, items: Sequence[SigningItem]) -> Groups:
        """The groups of ``items`` (what a worker process needs of this enclave)."""
        return {item.signers: self.of(item) for item in items}

    def of(self, item: SigningItem) -> LocalGroup | None:
        if item.signers not in self._groups:
            members = tuple(self.local[pk] for pk in item.signers if pk in self.local)
            group = None
            if members:
                weighted = sum(
                    musig2.key_agg_coeff(item.signers, m.pubkey) * int.from_bytes(m.secret, "big")
                    for m in members
                )
                binding = hashlib.sha256(b"".join(m.secret for m in members)).digest()
                group = LocalGroup(members, binding, weighted % n)
            self._groups[item.signers] = group
        return self._groups[item.signers]


def _nonce_scalars(seed: bytes, item: SigningItem, group: LocalGroup) -> tuple[int, int]:
    return derive_nonce(seed, group.binding, b"", item.message, item.index)


def public_nonce(seed: bytes, item: SigningItem, groups: Groups) -> bytes | None:
    """Round 1: the enclave's 66-byte nonce for ``item`` (None if it holds no signer of it)."""
    group = groups[item.signers]
    if group is None:
        return None
    k1, k2 = _nonce_scalars(seed, item, group)
    return Point.from_secret(k1).to_bytes() + Point.from_secret(k2).to_bytes()


def partial_signature(
    seed: bytes, item: SigningItem, group: LocalGroup, values: musig2.SessionValues
) -> int:
    """Round 2: the enclave's partial signature for ``item`` (its members' shares summed)."""
    k1, k2 = _nonce_scalars(seed, item, group)
    return partial_signature_scalar(
        k1, k2, values.b, values.e, values.key_sign * group.weighted % n, values.nonce_negated
    )


@dataclass(frozen=True, slots=True)
class Finalization:
    """What FinalizeSignature needs of an item's session (derived once, at DistributeNonces)."""

    aggnonce: bytes
    nonce: bytes  # x(R), or the 33-byte R of an adaptor item
    aggregate_key: bytes  # x(Q)
    tweak_term: int  # e·g·tacc, added to the sum of the partial signatures


def distribute(
    item: SigningItem, nonces: Sequence[bytes | None], enclaves: Sequence[tuple[bytes, Groups]]
) -> tuple[Finalization, tuple[int | None, ...]]:
    """DistributeNonces for one item: the aggregate nonce, the session values derived once from
    it, and every enclave's partial signature (None where ``nonces`` has none: no signer held).

    ``nonces[j]`` is enclave ``j``'s round-1 nonce; ``enclaves[j]`` its round seed and groups.
    """
    point = None if item.adaptor_point is None else Point.from_bytes(item.adaptor_point)
    aggnonce, values = aggregate_session(
        [nonce for nonce in nonces if nonce is not None],
        item.signers,
        item.tweaks,
        item.is_xonly,
        item.message,
        point,
    )
    partials = tuple(
        None if nonce is None else partial_signature(seed, item, _held(groups, item), values)
        for nonce, (seed, groups) in zip(nonces, enclaves, strict=True)
    )
    g = 1 if values.Q.has_even_y() else n - 1
    nonce_bytes = values.R.xonly() if point is None else values.R.to_bytes()
    finalization = Finalization(
        aggnonce, nonce_bytes, values.Q.xonly(), values.e * g * values.tacc % n
    )
    return finalization, partials


def _held(groups: Groups, item: SigningItem) -> LocalGroup:
    group = groups[item.signers]
    if group is None:
        raise ValueError(f"item {item.batch_item_id}: a nonce from an enclave holding no signer")
    return group


def partial_valid(
    item: SigningItem, aggnonce: bytes, pubnonce: bytes, pubkeys: Sequence[bytes], s: int
) -> bool:
    """Check an enclave's summed partial signature against its nonce and members' keys."""
    values = item.session(aggnonce)
    effective = point_sum(Point.from_bytes(pk) * values.keyagg.coefficients[pk] for pk in pubkeys)
    r1, r2 = Point.from_bytes(pubnonce[:33]), Point.from_bytes(pubnonce[33:])
    nonce = point_sum((r1, None if values.b == 0 else r2 * values.b))
    if nonce is not None and values.nonce_negated:
        nonce = -nonce
    c = values.e * values.key_sign % n
    rhs = point_sum((nonce, None if effective is None or c == 0 else effective * c))
    lhs = None if s == 0 else Point.from_secret(s)
    return lhs == rhs


def final_signature(
    item: SigningItem, finalization: Finalization, partials: Sequence[int]
) -> bytes | None:
    """The aggregate signature (64 bytes, or 65 for adaptor items), or None if it is invalid."""
    s = (sum(partials) + finalization.tweak_term) % n
    signature = finalization.nonce + s.to_bytes(32, "big")
    if item.adaptor_point is None:
        ok = bip340.verify(finalization.aggregate_key, item.message, signature)
    else:
        ok = adaptor.verify(finalization.aggregate_key, item.message, signature, item.adaptor_point)
    return signature if ok else None


# ---------------------------------------------------------------------------------------------
# Chunks of a round (pure; picklable arguments, so a worker process can run them)


def nonces_chunk(seed: bytes, items: Sequence[SigningItem], groups: Groups) -> list[bytes | None]:
    return [public_nonce(seed, item, groups) for item in items]


def distribute_chunk(
    items: Sequence[SigningItem],
    nonces: Sequence[Sequence[bytes | None]],
    enclaves: Sequence[tuple[bytes, Groups]],
) -> list[tuple[Finalization, tuple[int | None, ...]]]:
    return [distribute(item, row, enclaves) for item, row in zip(items, nonces, strict=True)]


def finals_chunk(
    items: Sequence[SigningItem],
    finalizations: Sequence[Finalization],
    partials: Sequence[Sequence[int]],
) -> list[bytes | None]:
    return [
        final_signature(item, finalization, shares)
        for item, finalization, shares in zip(items, finalizations, partials, strict=True)
    ]
