"""Signing a ticketed DLC: the two-round MuSig2 session over every entry (dlctix §8).

* :class:`SignerSession` — one party holding one or several keys. Round 1 gives a
  ``SigMap`` of public nonces per key; given the aggregate nonces, round 2 gives a ``SigMap`` of
  partial signatures per key. All keys are handled in one pass that shares each entry's session
  values.
* :class:`CoordinatorSession` — the aggregator (normally the market maker). It checks that
  every signer sent exactly its sigmap, aggregates the nonces, signs with its own keys,
  aggregates the partial signatures and verifies the complete signature set before returning
  a :class:`SignedContract`. Invalid partial signatures are blamed on their signers.
* :func:`sign_contract_locally` — every key is in this process (tests, benchmarks, a
  custodial signer): both rounds at once, without computing individual public nonces.

Sessions are single-use: round 2 can run once, and the nonce seeds are dropped afterwards.
Pass an ``executor`` (e.g. a ``ProcessPoolExecutor``) to spread the work over CPUs; its workers
receive secret keys and nonce seeds, so use only local, trusted pools.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Final, TypeVar

from ticketdlc.contract import engine
from ticketdlc.contract.build import SigningEntry, SigningPlan, TicketedDLC
from ticketdlc.contract.errors import (
    InvalidPartialSignatureError,
    InvalidSignatureError,
    SigningError,
)
from ticketdlc.contract.settlement import SignedContract
from ticketdlc.contract.sigmap import SigMap
from ticketdlc.contract.signatures import ContractSignatures
from ticketdlc.contract.types import Outcome, WinCondition
from ticketdlc.crypto import musig2
from ticketdlc.crypto.musig_core import SingleUse
from ticketdlc.crypto.secp import CURVE_ORDER, Point

EntryKey = Outcome | WinCondition
T = TypeVar("T")
R = TypeVar("R")
CHUNK_SIZE: Final = engine.DEFAULT_CHUNK_SIZE


def _pubkey_of(secret: bytes) -> bytes:
    if len(secret) != 32 or not 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
        raise SigningError("a secret key is 32 bytes in [1, n-1]")
    return Point.from_secret(secret).to_bytes()


def _to_sigmap(plan: SigningPlan, indices: Sequence[int], values: Sequence[T]) -> SigMap[T]:
    by_outcome: dict[Outcome, T] = {}
    by_win: dict[WinCondition, T] = {}
    for index, value in zip(indices, values, strict=True):
        key = plan.entries[index].key
        if isinstance(key, WinCondition):
            by_win[key] = value
        else:
            by_outcome[key] = value
    return SigMap(by_outcome, by_win)


def _lookup(sigmap: SigMap[bytes], key: EntryKey) -> bytes | None:
    if isinstance(key, WinCondition):
        return sigmap.by_win_condition.get(key)
    return sigmap.by_outcome.get(key)


def _expected_sigmap(plan: SigningPlan, indices: Sequence[int]) -> SigMap[None]:
    return _to_sigmap(plan, indices, [None] * len(indices))


def _contract_signatures(
    entries: Sequence[SigningEntry], finals: Iterable[tuple[bytes, int]]
) -> ContractSignatures:
    """Assemble ``(final nonce R, s)`` per entry: 65-byte ``R || s`` adaptor signatures for
    attestation outcomes, 64-byte ``x(R) || s`` signatures otherwise."""
    outcome_sigs: dict[int, bytes] = {}
    split_sigs: dict[WinCondition, bytes] = {}
    expiry_sig: bytes | None = None
    for entry, (final_nonce, s_int) in zip(entries, finals, strict=True):
        s = (s_int % CURVE_ORDER).to_bytes(32, "big")
        if isinstance(entry.key, WinCondition):
            split_sigs[entry.key] = final_nonce[1:] + s
        elif entry.key.is_expiry:
            expiry_sig = final_nonce[1:] + s
        else:
            outcome_sigs[entry.key.code] = final_nonce + s
    return ContractSignatures(expiry_sig, outcome_sigs, split_sigs)


class SignerSession(SingleUse):
    """A party holding one or more of the contract's keys, for one signing session.

    Single use and never serialized: its nonce seeds (:func:`engine.derive_nonce`) sign once.
    """

    def __init__(
        self,
        dlc: TicketedDLC,
        secrets: Sequence[bytes],
        *,
        executor: Executor | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if not secrets:
            raise SigningError("a signer needs at least one key")
        self.dlc = dlc
        self.plan = dlc.signing_plan()
        self.executor = executor
        self.chunk_size = chunk_size
        contract_keys = {p.to_bytes() for p in dlc.params.signer_pubkeys()}
        signers: list[engine.Signer] = []
        for secret in secrets:
            pubkey = _pubkey_of(secret)
            if pubkey not in contract_keys:
                raise SigningError(f"key {pubkey.hex()} is not a signer of this contract")
            if any(pubkey == other[0] for other in signers):
                raise SigningError(f"key {pubkey.hex()} given twice")
            signers.append((pubkey, bytes(secret), os.urandom(32)))
        self._signers: list[engine.Signer] | None = signers
        self.pubkeys: list[bytes] = [signer[0] for signer in signers]
        self._entries = {pk: self.plan.entries_of(pk) for pk in self.pubkeys}
        self._union = sorted({i for indices in self._entries.values() for i in indices})
        self._nonces: dict[bytes, SigMap[bytes]] | None = None

    def _signers_or_fail(self) -> list[engine.Signer]:
        if self._signers is None:
            raise SigningError("this signing session already produced its partial signatures")
        return self._signers

    def _contexts(self, indices: Sequence[int]) -> dict[int, engine.Keys]:
        plan = self.plan
        return {plan.entry_contexts[i]: plan.contexts[plan.entry_contexts[i]] for i in indices}

    def public_nonces(self) -> dict[bytes, SigMap[bytes]]:
        """Round 1: each key's public nonces (66 bytes) for exactly its sigmap."""
        if self._nonces is None:
            signers = self._signers_or_fail()
            plan = self.plan
            tasks = [(i, plan.entries[i].sighash, plan.entry_contexts[i]) for i in self._union]
            chunks = [
                (self._contexts([t[0] for t in chunk]), chunk, signers)
                for chunk in engine.chunked(tasks, self.chunk_size)
            ]
            results = engine.run_chunks(self.executor, engine.public_nonces_chunk, chunks)
            self._nonces = self._split_by_signer(results)
        return self._nonces

    def _split_by_signer(self, results: Sequence[tuple[bytes, ...]]) -> dict[bytes, SigMap[bytes]]:
        """Per-entry tuples (local signers of the entry, in signer order) → per-key sigmaps."""
        plan = self.plan
        values: dict[bytes, list[bytes]] = {pk: [] for pk in self.pubkeys}
        for index, row in zip(self._union, results, strict=True):
            keys = plan.contexts[plan.entry_contexts[index]]
            members = [pk for pk in self.pubkeys if pk in keys]
            for pk, value in zip(members, row, strict=True):
                values[pk].append(value)
        return {pk: _to_sigmap(plan, self._entries[pk], values[pk]) for pk in self.pubkeys}

    def partial_signatures(self, aggnonces: SigMap[bytes]) -> dict[bytes, SigMap[bytes]]:
        """Round 2: each key's partial signatures (32 bytes) given the aggregate nonces.

        Entries of ``aggnonces`` that none of our keys signs are ignored. Runs once.
        """
        results = self._sign(aggnonces)
        return self._split_by_signer([psigs for _, psigs in results])

    def _sign(self, aggnonces: SigMap[bytes]) -> list[tuple[bytes, tuple[bytes, ...]]]:
        signers = self._signers_or_fail()
        if self._nonces is None:
            raise SigningError("share the public nonces before signing")
        plan = self.plan
        tasks: list[engine.SignTask] = []
        for i in self._union:
            entry = plan.entries[i]
            aggnonce = _lookup(aggnonces, entry.key)
            if aggnonce is None or len(aggnonce) != 66:
                raise SigningError(f"missing aggregate nonce for {entry.key}")
            adaptor_bytes = None if entry.adaptor is None else entry.adaptor.to_bytes()
            tasks.append((i, entry.sighash, plan.entry_contexts[i], adaptor_bytes, aggnonce))
        self._signers = None  # single use: the seeds are gone once we sign
        chunks = [
            (self._contexts([t[0] for t in chunk]), chunk, signers)
            for chunk in engine.chunked(tasks, self.chunk_size)
        ]
        try:
            return engine.run_chunks(self.executor, engine.partial_signatures_chunk, chunks)
        except ValueError as exc:  # malformed aggregate nonce, or R + T at infinity
            raise SigningError(f"invalid aggregate nonce: {exc}") from None


class CoordinatorSession(SingleUse):
    """The aggregator of a signing session; usually the market maker (holding its own key).

    Single use and never serialized, like :class:`SignerSession`.
    """

    def __init__(
        self,
        dlc: TicketedDLC,
        secrets: Sequence[bytes],
        *,
        executor: Executor | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.dlc = dlc
        self.plan = dlc.signing_plan()
        self.executor = executor
        self.chunk_size = chunk_size
        self.signer = SignerSession(dlc, secrets, executor=executor, chunk_size=chunk_size)
        self.signer_pubkeys = [p.to_bytes() for p in dlc.params.signer_pubkeys()]
        self._received_nonces: dict[bytes, SigMap[bytes]] | None = None
        self._aggnonces: list[bytes] | None = None
        self._final_nonces: dict[int, bytes] = {}
        self._own_psigs: dict[bytes, SigMap[bytes]] | None = None
        self._own_pubkeys = frozenset(self.signer.pubkeys)

    def our_public_nonces(self) -> dict[bytes, SigMap[bytes]]:
        """The public nonces of the coordinator's own keys."""
        return self.signer.public_nonces()

    def _check_complete(self, maps: Mapping[bytes, SigMap[bytes]], what: str) -> None:
        missing = [pk for pk in self.signer_pubkeys if pk not in maps]
        if missing:
            raise SigningError(f"no {what} from signer {missing[0].hex()}")
        for pubkey, sigmap in maps.items():
            indices = self.plan.entries_of(pubkey) if pubkey in self.signer_pubkeys else None
            if indices is None:
                raise SigningError(f"{what} from {pubkey.hex()}, which is not a signer")
            if not sigmap.is_mirror(_expected_sigmap(self.plan, indices)):
                raise SigningError(f"{what} from {pubkey.hex()} do not match its sigmap")

    def aggregate_nonces(self, received: Mapping[bytes, SigMap[bytes]]) -> SigMap[bytes]:
        """Take every other signer's public nonces, aggregate them with ours and sign our part.

        Returns the aggregate nonces of every entry, to send to every signer.
        """
        if self._aggnonces is not None:
            raise SigningError("the nonces were already aggregated")
        nonces = dict(received)
        nonces.update(self.our_public_nonces())
        self._check_complete(nonces, "public nonces")
        plan = self.plan
        lists: list[list[bytes]] = []
        for index, entry in enumerate(plan.entries):
            keys = plan.contexts[plan.entry_contexts[index]]
            lists.append([self._value(nonces[pk], entry.key) for pk in keys])
        results = engine.run_chunks(
            self.executor,
            engine.aggregate_nonces_chunk,
            [(chunk,) for chunk in engine.chunked(lists, self.chunk_size)],
        )
        aggnonces: list[bytes] = []
        for index, result in enumerate(results):
            if isinstance(result, int):
                keys = plan.contexts[plan.entry_contexts[index]]
                culprit = keys[result] if 0 <= result < len(keys) else b""
                raise InvalidPartialSignatureError({culprit: [str(plan.entries[index].key)]})
            aggnonces.append(result)
        self._received_nonces = nonces
        self._aggnonces = aggnonces
        full = _to_sigmap(plan, range(len(aggnonces)), aggnonces)
        own = self.signer._sign(full)
        for index, (final_nonce, _) in zip(self.signer._union, own, strict=True):
            self._final_nonces[index] = final_nonce
        self._own_psigs = self.signer._split_by_signer([psigs for _, psigs in own])
        return full

    @staticmethod
    def _value(sigmap: SigMap[bytes], key: EntryKey) -> bytes:
        value = _lookup(sigmap, key)
        if value is None:
            raise SigningError(f"missing value for {key}")
        return value

    def verify_partial_signatures(self, pubkey: bytes, psigs: SigMap[bytes]) -> None:
        """Check one signer's partial signatures; raises with blame if any is invalid."""
        self.verify_all_partial_signatures({pubkey: psigs})

    def verify_all_partial_signatures(self, received: Mapping[bytes, SigMap[bytes]]) -> None:
        """Check the partial signatures of several signers in one (parallel) pass.

        Raises :class:`InvalidPartialSignatureError` naming every signer with an invalid one.
        """
        if self._aggnonces is None or self._received_nonces is None:
            raise SigningError("the nonces are not aggregated yet")
        plan = self.plan
        items: list[tuple[int, bytes, bytes]] = []
        for pubkey, sigmap in received.items():
            if pubkey not in self._received_nonces:
                raise SigningError(f"{pubkey.hex()} is not a signer")
            indices = plan.entries_of(pubkey)
            if not sigmap.is_mirror(_expected_sigmap(plan, indices)):
                raise SigningError(
                    f"partial signatures from {pubkey.hex()} do not match its sigmap"
                )
            items.extend((i, pubkey, self._value(sigmap, plan.entries[i].key)) for i in indices)
        blamed: dict[bytes, list[str]] = {}
        for index, pubkey in self._invalid_partials(items):
            blamed.setdefault(pubkey, []).append(str(plan.entries[index].key))
        if blamed:
            raise InvalidPartialSignatureError(blamed)

    def _invalid_partials(
        self, items: Sequence[tuple[int, bytes, bytes]]
    ) -> list[tuple[int, bytes]]:
        """The ``(entry index, signer)`` of each invalid partial signature among ``items``."""
        assert self._aggnonces is not None and self._received_nonces is not None
        plan = self.plan
        # Entry-major order: every signer of an entry lands in the same chunk, so the entry's
        # session values are computed once (they are cached per process).
        items = sorted(items, key=lambda item: item[0])
        tasks: list[engine.CheckTask] = []
        for index, pubkey, psig in items:
            entry = plan.entries[index]
            tasks.append(
                (
                    entry.sighash,
                    plan.entry_contexts[index],
                    None if entry.adaptor is None else entry.adaptor.to_bytes(),
                    self._aggnonces[index],
                    self._value(self._received_nonces[pubkey], entry.key),
                    psig,
                    pubkey,
                )
            )
        chunks = []
        offsets = []
        for offset in range(0, len(tasks), self.chunk_size):
            chunk = tasks[offset : offset + self.chunk_size]
            contexts = {t[1]: plan.contexts[t[1]] for t in chunk}
            chunks.append((contexts, chunk))
            offsets.append(offset)
        failed: list[tuple[int, bytes]] = []
        results = _run_each(self.executor, engine.verify_partials_chunk, chunks)
        for offset, positions in zip(offsets, results, strict=True):
            for position in positions:
                index, pubkey, _ = items[offset + position]
                failed.append((index, pubkey))
        return failed

    def combine_partial_signatures(
        self, received: Mapping[bytes, SigMap[bytes]]
    ) -> ContractSignatures:
        """Sum everyone's partial signatures per entry (not verified: see
        :meth:`aggregate_signatures`)."""
        if self._aggnonces is None or self._own_psigs is None:
            raise SigningError("aggregate the nonces first")
        psigs = dict(received)
        psigs.update(self._own_psigs)
        self._check_complete(psigs, "partial signatures")
        plan = self.plan
        finals: list[tuple[bytes, int]] = []
        for index, entry in enumerate(plan.entries):
            total = 0
            for pubkey in plan.contexts[plan.entry_contexts[index]]:
                value = self._value(psigs[pubkey], entry.key)
                if len(value) != 32 or int.from_bytes(value, "big") >= CURVE_ORDER:
                    raise InvalidPartialSignatureError({pubkey: [str(entry.key)]})
                total += int.from_bytes(value, "big")
            finals.append((self._final_nonce(index), total))
        return _contract_signatures(plan.entries, finals)

    def aggregate_signatures(
        self, received: Mapping[bytes, SigMap[bytes]], *, verify_each: bool = False
    ) -> SignedContract:
        """Aggregate everyone's partial signatures and verify the complete signature set.

        Each signer's partial signatures are only checked one by one if the aggregate set
        fails (to blame the signer) or if ``verify_each`` is set.
        """
        if verify_each:
            self.verify_all_partial_signatures(
                {pk: sigmap for pk, sigmap in received.items() if pk not in self._own_pubkeys}
            )
        signatures = self.combine_partial_signatures(received)
        try:
            return SignedContract.verified(self.dlc, signatures, executor=self.executor)
        except InvalidSignatureError:
            self._blame(received)
            raise

    def _final_nonce(self, index: int) -> bytes:
        final_nonce = self._final_nonces.get(index)
        if final_nonce is None:
            assert self._aggnonces is not None
            entry = self.plan.entries[index]
            session = musig2.SessionContext(
                self._aggnonces[index], entry.keys.pubkeys, (), (), entry.sighash
            )
            final_nonce = musig2.session_values(session, entry.adaptor).R.to_bytes()
            self._final_nonces[index] = final_nonce
        return final_nonce

    def _blame(self, psigs: Mapping[bytes, SigMap[bytes]]) -> None:
        """Find the signers whose partial signatures are invalid and raise with their names."""
        self.verify_all_partial_signatures(
            {pk: sigmap for pk, sigmap in psigs.items() if pk not in self._own_pubkeys}
        )


def _run_each(
    executor: Executor | None, function: Callable[..., R], chunks: Sequence[tuple[object, ...]]
) -> list[R]:
    """``function(*chunk)`` for every chunk, in order (in ``executor`` if given)."""
    if executor is None:
        return [function(*chunk) for chunk in chunks]
    futures = [executor.submit(function, *chunk) for chunk in chunks]
    return [future.result() for future in futures]


def local_signatures(
    dlc: TicketedDLC,
    secrets: Sequence[bytes],
    *,
    executor: Executor | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ContractSignatures:
    """Every aggregated signature, computed with every key held here (not verified yet:
    use :func:`sign_contract_locally` unless you verify them yourself).

    ``secrets`` must include the market maker's and every player's secret key.
    """
    plan = dlc.signing_plan()
    by_pubkey = {_pubkey_of(secret): bytes(secret) for secret in secrets}
    for pubkey in (p.to_bytes() for p in dlc.params.signer_pubkeys()):
        if pubkey not in by_pubkey:
            raise SigningError(f"missing the secret key of signer {pubkey.hex()}")
    seed = os.urandom(32)
    tasks = [
        (
            i,
            entry.sighash,
            plan.entry_contexts[i],
            None if entry.adaptor is None else entry.adaptor.to_bytes(),
        )
        for i, entry in enumerate(plan.entries)
    ]
    chunks = []
    for chunk in engine.chunked(tasks, chunk_size):
        contexts = {t[2]: plan.contexts[t[2]] for t in chunk}
        needed = {pk for keys in contexts.values() for pk in keys}
        chunks.append((contexts, chunk, {pk: by_pubkey[pk] for pk in needed}, seed))
    results = engine.run_chunks(executor, engine.sign_locally_chunk, chunks)
    return _contract_signatures(plan.entries, results)


def sign_contract_locally(
    dlc: TicketedDLC,
    secrets: Sequence[bytes],
    *,
    executor: Executor | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> SignedContract:
    """Sign every entry with every key held here, then verify the complete set."""
    signatures = local_signatures(dlc, secrets, executor=executor, chunk_size=chunk_size)
    return SignedContract.verified(dlc, signatures, executor=executor)
