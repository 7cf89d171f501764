"""Bulk MuSig2 work over many signing entries, in chunks that can run in worker processes.

A contract has tens of thousands of entries (one per outcome transaction and split leaf), each
signed by a few to a few dozen keys. The work is split by entry into chunks; each chunk function
is pure, takes only bytes, ints and tuples (so a ``ProcessPoolExecutor`` can run it) and shares
per-entry values between every local key: the aggregate nonce, ``b``, ``R``, ``R + T``, the
challenge ``e`` and the key-aggregation coefficients are computed once per entry, after which
each partial signature is scalar arithmetic mod n.

Secret nonces are derived from a per-session random seed (never reused across sessions) with
:func:`derive_nonce`, so a signer keeps one seed per key instead of one secret per entry, and
worker processes can recompute them without secret nonces crossing process boundaries as
objects. Worker processes receive secret keys and seeds: only use executors whose workers are
as trusted as the calling process (a local process pool).

Every partial signature is computed by ``musig_core.partial_signature_scalar``. Unlike the
single-signature API (which checks each partial signature before returning it, as the BIP-327
reference does) the bulk paths do not verify their own partial signatures one by
one: that would cost about as much as signing again. A faulty one is caught later instead, at
no extra cost, because every aggregated signature is batch-verified before a contract counts as
signed (``SignedContract.verified``; a failing set is then checked partial by partial and the
signer blamed), and it cannot leak a key because its nonce is never used for a second
signature (see :func:`derive_nonce`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Final, TypeAlias, TypeVar

from ticketdlc.crypto import adaptor as adaptor_sigs
from ticketdlc.crypto import bip340, musig2
from ticketdlc.crypto.musig_core import partial_signature_scalar
from ticketdlc.crypto.secp import CURVE_ORDER, Point, tagged_hash

n: Final = CURVE_ORDER
NONCE_TAG: Final = "TicketDLC/session-nonce"
DEFAULT_CHUNK_SIZE: Final = 1024

Keys: TypeAlias = tuple[bytes, ...]
"""A sorted signer list (33-byte keys): one key-aggregation context."""

Signer: TypeAlias = tuple[bytes, bytes, bytes]
"""``(33-byte public key, 32-byte secret key, 32-byte session seed)``."""

NonceTask: TypeAlias = tuple[int, bytes, int]
"""``(entry index, message, context id)``."""

SignTask: TypeAlias = tuple[int, bytes, int, "bytes | None", bytes]
"""``(entry index, message, context id, adaptor point or None, 66-byte aggregate nonce)``."""

LocalTask: TypeAlias = tuple[int, bytes, int, "bytes | None"]
"""``(entry index, message, context id, adaptor point or None)``."""

CheckTask: TypeAlias = tuple[bytes, int, "bytes | None", bytes, bytes, bytes, bytes]
"""``(message, context id, adaptor point or None, aggregate nonce, signer's public nonce,
partial signature, signer's public key)``."""

T = TypeVar("T")
R = TypeVar("R")


def derive_nonce(seed: bytes, sk: bytes, pk: bytes, msg: bytes, entry: int) -> tuple[int, int]:
    """The secret nonce pair of one signer for one entry of one session.

    ``k_j = H("TicketDLC/session-nonce", seed || sk || pk || msg || entry || j) mod n``.

    The rule that makes this safe: **one seed, one signing pass.** A MuSig2 nonce must never
    sign two different challenges (two partial signatures ``s = k + e·x``, ``s' = k + e'·x``
    give away the secret ``x``). Within a session the inputs ``sk``, ``pk``, ``msg`` and
    ``entry`` make every entry's nonce distinct; across sessions the 32-byte ``seed`` is fresh
    randomness (``os.urandom``) held only by the session object, which signs once, then drops
    the seed, and cannot be pickled or copied (so it cannot be restored after a restart and
    asked to sign again under other aggregate nonces). A caller that persisted a seed and
    signed again with it after the other parties changed their nonces would leak its keys.
    """
    base = seed + sk + pk + msg + entry.to_bytes(4, "big")
    k1 = int.from_bytes(tagged_hash(NONCE_TAG, base + b"\x00"), "big") % n
    k2 = int.from_bytes(tagged_hash(NONCE_TAG, base + b"\x01"), "big") % n
    if k1 == 0 or k2 == 0:  # probability 2^-255
        raise ValueError("derived nonce is zero")
    return k1, k2


def public_nonce(k1: int, k2: int) -> bytes:
    """The 66-byte public nonce ``k1·G || k2·G``."""
    return Point.from_secret(k1).to_bytes() + Point.from_secret(k2).to_bytes()


def _members(contexts: dict[int, Keys], signers: Sequence[Signer]) -> dict[int, list[Signer]]:
    """For each context, the local signers that belong to it (in ``signers`` order)."""
    out: dict[int, list[Signer]] = {}
    for ctx_id, keys in contexts.items():
        keyset = set(keys)
        out[ctx_id] = [signer for signer in signers if signer[0] in keyset]
    return out


# ---------------------------------------------------------------------------------------------
# Chunk functions (pure, picklable arguments and results)


def public_nonces_chunk(
    contexts: dict[int, Keys], tasks: Sequence[NonceTask], signers: Sequence[Signer]
) -> list[tuple[bytes, ...]]:
    """Round 1: for each task, the public nonce of every local signer of its context."""
    members = _members(contexts, signers)
    out: list[tuple[bytes, ...]] = []
    for entry, msg, ctx_id in tasks:
        out.append(
            tuple(
                public_nonce(*derive_nonce(seed, sk, pk, msg, entry))
                for pk, sk, seed in members[ctx_id]
            )
        )
    return out


def aggregate_nonces_chunk(nonce_lists: Sequence[Sequence[bytes]]) -> list[bytes | int]:
    """Nonce aggregation per entry; an ``int`` result names the first invalid contributor."""
    out: list[bytes | int] = []
    for pubnonces in nonce_lists:
        try:
            out.append(musig2.nonce_agg(pubnonces))
        except musig2.InvalidContributionError as exc:
            out.append(exc.signer if exc.signer is not None else -1)
    return out


def _session(
    msg: bytes, keys: Keys, adaptor: bytes | None, aggnonce: bytes
) -> musig2.SessionValues:
    point = None if adaptor is None else Point.from_bytes(adaptor)
    return musig2.session_values(musig2.SessionContext(aggnonce, keys, (), (), msg), point)


def partial_signatures_chunk(
    contexts: dict[int, Keys], tasks: Sequence[SignTask], signers: Sequence[Signer]
) -> list[tuple[bytes, tuple[bytes, ...]]]:
    """Round 2: for each task, ``(R, partial signatures of the local signers of its context)``.

    ``R`` (33 bytes) is the un-adapted final nonce, which the aggregator needs.
    """
    members = _members(contexts, signers)
    secrets = {pk: int.from_bytes(sk, "big") for pk, sk, _ in signers}
    out: list[tuple[bytes, tuple[bytes, ...]]] = []
    for entry, msg, ctx_id, adaptor, aggnonce in tasks:
        keys = contexts[ctx_id]
        values = _session(msg, keys, adaptor, aggnonce)
        negate = values.nonce_negated
        b, e, key_sign = values.b, values.e, values.key_sign
        coefficients = values.keyagg.coefficients
        psigs = []
        for pk, sk, seed in members[ctx_id]:
            k1, k2 = derive_nonce(seed, sk, pk, msg, entry)
            weighted = coefficients[pk] * key_sign * secrets[pk] % n
            psigs.append(
                partial_signature_scalar(k1, k2, b, e, weighted, negate).to_bytes(32, "big")
            )
        out.append((values.R.to_bytes(), tuple(psigs)))
    return out


def verify_partials_chunk(contexts: dict[int, Keys], tasks: Sequence[CheckTask]) -> list[int]:
    """Positions (in ``tasks``) of the partial signatures that do not verify."""
    failed = []
    for position, (msg, ctx_id, adaptor_point, aggnonce, pubnonce, psig, pubkey) in enumerate(
        tasks
    ):
        session = musig2.SessionContext(aggnonce, contexts[ctx_id], (), (), msg)
        point = None if adaptor_point is None else Point.from_bytes(adaptor_point)
        if not adaptor_sigs.partial_sig_verify_internal(psig, pubnonce, pubkey, session, point):
            failed.append(position)
    return failed


def sign_locally_chunk(
    contexts: dict[int, Keys], tasks: Sequence[LocalTask], secrets: dict[bytes, bytes], seed: bytes
) -> list[tuple[bytes, int]]:
    """Both rounds for entries whose every signer is local: ``(R, s)`` per task.

    Each signer's nonce pair is derived and its partial signature computed as in the two-round
    protocol; the aggregate nonce is ``(Σk1)·G, (Σk2)·G`` and the final nonce ``(Σk1 + b·Σk2)·G``
    because every nonce scalar is known here, so no individual public nonce is computed.
    """
    scalars = {pk: int.from_bytes(sk, "big") for pk, sk in secrets.items()}
    prepared: dict[int, tuple[bytes, list[tuple[bytes, bytes, int]]]] = {}
    out: list[tuple[bytes, int]] = []
    for entry, msg, ctx_id, adaptor in tasks:
        context = prepared.get(ctx_id)
        if context is None:
            keys = contexts[ctx_id]
            q = musig2.key_agg(keys).Q
            key_sign = 1 if q.has_even_y() else n - 1
            # Per signer: key, secret, and coefficient·sign·secret (constant for the context).
            context = (
                q.xonly(),
                [
                    (pk, secrets[pk], musig2.key_agg_coeff(keys, pk) * key_sign * scalars[pk] % n)
                    for pk in keys
                ],
            )
            prepared[ctx_id] = context
        q_xonly, members = context
        nonces = [derive_nonce(seed, sk, pk, msg, entry) for pk, sk, _ in members]
        k1_sum = sum(k1 for k1, _ in nonces) % n
        k2_sum = sum(k2 for _, k2 in nonces) % n
        aggnonce = Point.from_secret(k1_sum).to_bytes() + Point.from_secret(k2_sum).to_bytes()
        b = int.from_bytes(tagged_hash("MuSig/noncecoef", aggnonce + q_xonly + msg), "big") % n
        final_nonce = Point.from_secret((k1_sum + b * k2_sum) % n)
        effective = final_nonce if adaptor is None else final_nonce + Point.from_bytes(adaptor)
        e = bip340.challenge(effective.xonly(), q_xonly, msg)
        negate = not effective.has_even_y()
        total = sum(
            partial_signature_scalar(k1, k2, b, e, weighted_secret, negate)
            for (_, _, weighted_secret), (k1, k2) in zip(members, nonces, strict=True)
        )
        out.append((final_nonce.to_bytes(), total % n))
    return out


# ---------------------------------------------------------------------------------------------
# Running chunks


def process_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """A local worker pool for the chunk functions (one process per CPU by default).

    Workers are started with ``spawn``, which is safe from a process that runs threads (an
    event loop, a web server). Shut it down (or use it as a context manager) when done.
    """
    count = workers if workers is not None else max(1, os.cpu_count() or 1)
    return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_chunks(
    executor: Executor | None,
    function: Callable[..., list[R]],
    chunks: Iterable[tuple[object, ...]],
) -> list[R]:
    """``function(*args)`` for every chunk (in ``executor`` if given), concatenated in order."""
    results: list[R] = []
    if executor is None:
        for args in chunks:
            results.extend(function(*args))
        return results
    futures = [executor.submit(function, *args) for args in chunks]
    for future in futures:
        results.extend(future.result())
    return results
