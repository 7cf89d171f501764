"""Throughput of the crypto core next to raw coincurve BIP-340 signing, in the same run.

Prints operations per second for BIP-340, MuSig2 (plain and adaptor) and batch verification,
and the ratio of partial signatures per second to raw coincurve ``sign_schnorr`` per second.

    .venv/bin/python benchmarks/crypto_bench.py [--count N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from coincurve import PrivateKey

from ticketdlc.crypto import adaptor, bip340, musig2, musig_core
from ticketdlc.crypto.batch import Row, verify_batch
from ticketdlc.crypto.musig2 import SecNonce, SessionContext

T = TypeVar("T")


def rate(label: str, items: Sequence[T], operation: Callable[[T], object]) -> float:
    """Run ``operation`` over ``items`` and print and return operations per second."""
    start = time.perf_counter()
    for item in items:
        operation(item)
    elapsed = time.perf_counter() - start
    per_second = len(items) / elapsed
    print(f"  {label:<52} {per_second:>10,.0f} /s  {1e6 / per_second:>8.1f} µs")
    return per_second


def make_keys(count: int) -> list[tuple[bytes, bytes]]:
    keys = []
    for _ in range(count):
        sk = os.urandom(32)
        keys.append((sk, musig2.individual_pk(sk)))
    return keys


class Sessions:
    """Independent signing sessions (fresh message and nonces each) among ``signers`` keys."""

    def __init__(self, count: int, signers: int, adaptor_secret: bytes | None) -> None:
        keys = make_keys(signers)
        self.pubkeys = musig2.key_sort([pk for _, pk in keys])
        by_pk = {pk: sk for sk, pk in keys}
        self.point = None if adaptor_secret is None else adaptor.solo_adaptor_point(adaptor_secret)
        self.entries: list[tuple[SessionContext, list[SecNonce], list[bytes]]] = []
        for _ in range(count):
            msg = os.urandom(32)
            nonces = [musig2.nonce_gen(by_pk[pk], pk, None, msg, None) for pk in self.pubkeys]
            pubnonces = [pub for _, pub in nonces]
            ctx = SessionContext(musig2.nonce_agg(pubnonces), self.pubkeys, [], [], msg)
            self.entries.append((ctx, [sec for sec, _ in nonces], pubnonces))
        self.by_pk = by_pk


def bench_bip340(count: int) -> float:
    print("BIP-340")
    keys = [os.urandom(32) for _ in range(count)]
    msgs = [os.urandom(32) for _ in range(count)]
    raw_keys = [PrivateKey(k) for k in keys]
    raw = rate(
        "coincurve PrivateKey.sign_schnorr (raw)",
        list(zip(raw_keys, msgs, strict=True)),
        lambda km: km[0].sign_schnorr(km[1], os.urandom(32)),
    )
    rate(
        "bip340.sign (incl. verification of the result)",
        list(zip(keys, msgs, strict=True)),
        lambda km: bip340.sign(km[0], km[1], os.urandom(32)),
    )
    rate(
        "bip340.sign_deterministic (RFC 6979 aux)",
        list(zip(keys, msgs, strict=True)),
        lambda km: bip340.sign_deterministic(km[0], km[1]),
    )
    rows = [
        (bip340.xonly_pubkey(k), m, bip340.sign(k, m, bytes(32)))
        for k, m in zip(keys, msgs, strict=True)
    ]
    rate("bip340.verify", rows, lambda r: bip340.verify(*r))
    return raw


def sign_as(sessions: Sessions, index: int, ctx: SessionContext, secnonce: SecNonce) -> bytes:
    """Signer ``index`` of ``sessions`` signs (adaptor-signs if the sessions have a point)."""
    sk = sessions.by_pk[sessions.pubkeys[index]]
    if sessions.point is None:
        return musig2.sign(secnonce, sk, ctx)
    return adaptor.sign(secnonce, sk, ctx, sessions.point)


def verify_item(sessions: Sessions, item: tuple[bytes, bytes, bytes, SessionContext]) -> bool:
    """Verify one partial signature of ``sessions``."""
    psig, pubnonce, signer, ctx = item
    if sessions.point is None:
        return musig2.partial_sig_verify_internal(psig, pubnonce, signer, ctx)
    return adaptor.partial_sig_verify_internal(psig, pubnonce, signer, ctx, sessions.point)


def bench_variant(label: str, sessions: Sessions, results: dict[str, float]) -> None:
    """Partial signing and verification over fresh sessions."""
    musig_core._session_values_cached.cache_clear()
    results[f"sign_{label}"] = rate(
        f"partial sign ({label}, fresh session)",
        sessions.entries,
        lambda entry: sign_as(sessions, 0, entry[0], entry[1][0]),
    )
    # The second signer's partial signature of every session, then its verification.
    items = [
        (sign_as(sessions, 1, ctx, secnonces[1]), pubnonces[1], sessions.pubkeys[1], ctx)
        for ctx, secnonces, pubnonces in sessions.entries
    ]
    musig_core._session_values_cached.cache_clear()
    results[f"verify_{label}_fresh"] = rate(
        f"partial verify ({label}, fresh session)", items, lambda i: verify_item(sessions, i)
    )
    results[f"verify_{label}_cached"] = rate(
        f"partial verify ({label}, session values cached)",
        items,
        lambda i: verify_item(sessions, i),
    )


def bench_musig2(count: int, signers: int) -> dict[str, float]:
    print(f"MuSig2, {signers} signers, one fresh session per signature")
    results: dict[str, float] = {}
    sk, pk = make_keys(1)[0]
    results["nonce_gen"] = rate(
        "nonce_gen", range(count), lambda _: musig2.nonce_gen(sk, pk, None, None, None)
    )
    bench_variant("plain", Sessions(count, signers, None), results)
    secret = os.urandom(31).rjust(32, b"\x01")
    bench_variant("adaptor", Sessions(count, signers, secret), results)
    return results


def aggregate(sessions: Sessions, complete: tuple[list[bytes], SessionContext]) -> bytes:
    """Aggregate one session's partial signatures."""
    psigs, ctx = complete
    if sessions.point is None:
        return musig2.partial_sig_agg(psigs, ctx)
    return adaptor.partial_sig_agg(psigs, ctx, sessions.point)


def bench_aggregation(count: int, signers: int) -> None:
    print(f"Aggregation, {signers} signers (result verified before it is returned)")
    for label, secret in (("plain", None), ("adaptor", os.urandom(31).rjust(32, b"\x01"))):
        sessions = Sessions(count, signers, secret)
        complete = [
            ([sign_as(sessions, i, ctx, s) for i, s in enumerate(secnonces)], ctx)
            for ctx, secnonces, _ in sessions.entries
        ]
        rate(
            f"partial_sig_agg ({label})",
            complete,
            lambda c, sessions=sessions: aggregate(sessions, c),
        )


def bench_key_agg(signers: int, repeats: int) -> None:
    keys = [pk for _, pk in make_keys(signers)]
    sets = [keys[i:] + keys[:i] for i in range(repeats)]

    def aggregate_uncached(pubkeys: list[bytes]) -> None:
        musig_core._key_agg_cached.cache_clear()
        musig2.key_agg(pubkeys)

    rate(f"key_agg, {signers} keys (uncached)", sets, aggregate_uncached)
    for keys_set in sets:
        musig2.key_agg(keys_set)
    rate(f"key_agg, {signers} keys (cached)", sets, musig2.key_agg)


def bench_batch(count: int) -> None:
    print("Batch verification (BIP-340 rows)")
    rows: list[Row] = []
    for _ in range(count):
        sk, msg = os.urandom(32), os.urandom(32)
        rows.append((bip340.xonly_pubkey(sk), msg, bip340.sign(sk, msg, bytes(32))))

    def timed(label: str, run: Callable[[], object]) -> None:
        start = time.perf_counter()
        run()
        per_second = len(rows) / (time.perf_counter() - start)
        print(f"  {label:<52} {per_second:>10,.0f} /s")

    timed("verify_batch, 1 thread", lambda: verify_batch(rows, workers=1))
    timed("verify_batch, 2 threads", lambda: verify_batch(rows, workers=2))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        verify_batch(rows[:8], executor=pool)  # start the workers outside the timing
        timed("verify_batch, 2-process pool (warm)", lambda: verify_batch(rows, executor=pool))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="operations per measurement")
    args = parser.parse_args()
    count = args.count
    print(f"crypto core benchmark, {count} operations per line, {os.cpu_count()} CPUs\n")
    raw = bench_bip340(count)
    print()
    two = bench_musig2(count, 2)
    print()
    five = bench_musig2(count // 2, 5)
    print()
    bench_aggregation(count // 2, 2)
    print()
    print("Key aggregation")
    bench_key_agg(3, 200)
    bench_key_agg(26, 20)
    print()
    bench_batch(count * 2)
    print()
    print("Ratios: partial signatures per second / raw coincurve sign_schnorr per second")
    for label, results in (("2 signers", two), ("5 signers", five)):
        print(
            f"  {label}: plain {results['sign_plain'] / raw:.2f}, "
            f"adaptor {results['sign_adaptor'] / raw:.2f}"
        )


if __name__ == "__main__":
    main()
