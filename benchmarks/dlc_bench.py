"""A full competition contract with every party's key in one process: build, sign, verify.

For each (entries, places) it builds the contract (outcome-bound layout by default), signs every
entry and verifies the complete aggregated signature set, then prints the times, the peak
memory and the partial signatures per second. Each size runs in a fresh process so the peak
memory is its own.

Modes:

* ``local`` — every key in one signer: each entry's aggregate nonce is computed from the summed
  nonce scalars, every partial signature is still computed, then summed and batch-verified.
* ``protocol`` — the two-round session as separate parties run it: a multi-key signer for the
  players (individual public nonces for every key), the market maker as coordinator
  (nonce aggregation, its own partial signatures, combination), then batch verification.

    .venv/bin/python benchmarks/dlc_bench.py                       # (5,3) (10,3) (20,3) (25,3)
    .venv/bin/python benchmarks/dlc_bench.py --sizes 5x3,10x3 --mode both --workers 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from concurrent.futures import Executor
from typing import Any

from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.competition import Announcement, OutcomeSpace
from ticketdlc.contract import (
    CompetitionEntry,
    ContractLayout,
    CoordinatorSession,
    SignerSession,
    TicketedDLC,
    competition_contract_parameters,
    engine,
    verify_signatures,
)
from ticketdlc.contract.signatures import ContractSignatures
from ticketdlc.contract.signing import local_signatures
from ticketdlc.contract.validation import signature_counts
from ticketdlc.crypto.secp import Point

DEFAULT_SIZES = "5x3,10x3,20x3,25x3"
VERIFY_PARTIALS = "--verify-partials" in sys.argv


def build(entries: int, places: int, layout: ContractLayout) -> tuple[TicketedDLC, list[bytes]]:
    """A competition contract with fresh keys; returns it and every secret (MM first)."""
    secrets = [os.urandom(32) for _ in range(entries + 1)]
    space = OutcomeSpace(entries, places)
    # Locking points only need to be valid points here; the oracle's derivation is timed by
    # the oracle benchmark.
    announcement = Announcement(space, [Point.from_secret(10_000 + i) for i in range(space.count)])
    competition_entries = [
        CompetitionEntry(
            uuid.uuid4(),
            Point.from_secret(secrets[i + 1]),
            hashlib.sha256(b"ticket %d" % i).digest(),
            hashlib.sha256(b"payout %d" % i).digest(),
        )
        for i in range(entries)
    ]
    params = competition_contract_parameters(
        competition_entries,
        announcement,
        900_000,
        places,
        Point.from_secret(secrets[0]),
        funding_value=entries * 100_000,
        fee_rate=2_500,
        relative_locktime_block_delta=144,
        layout=layout,
    )
    # Legacy contracts with ranked places share winner sets: only stored ones rebuild.
    make = TicketedDLC.new if layout is ContractLayout.OUTCOME_BOUND else TicketedDLC.rebuild
    return make(params, OutPoint(b"\x11" * 32, 0)), secrets


def sign_local(
    dlc: TicketedDLC, secrets: list[bytes], executor: Executor | None, timings: dict[str, float]
) -> ContractSignatures:
    start = time.perf_counter()
    signatures = local_signatures(dlc, secrets, executor=executor)
    timings["sign"] = time.perf_counter() - start
    return signatures


def sign_protocol(
    dlc: TicketedDLC, secrets: list[bytes], executor: Executor | None, timings: dict[str, float]
) -> ContractSignatures:
    start = time.perf_counter()
    coordinator = CoordinatorSession(dlc, secrets[:1], executor=executor)
    players = SignerSession(dlc, secrets[1:], executor=executor)
    nonces = players.public_nonces()
    coordinator.our_public_nonces()
    timings["nonces"] = time.perf_counter() - start
    mark = time.perf_counter()
    aggnonces = coordinator.aggregate_nonces(nonces)
    timings["aggregate_nonces"] = time.perf_counter() - mark
    mark = time.perf_counter()
    psigs = players.partial_signatures(aggnonces)
    timings["partial_signatures"] = time.perf_counter() - mark
    mark = time.perf_counter()
    signatures = coordinator.combine_partial_signatures(psigs)
    timings["combine"] = time.perf_counter() - mark
    timings["sign"] = time.perf_counter() - start
    if VERIFY_PARTIALS:
        mark = time.perf_counter()
        coordinator.verify_all_partial_signatures(psigs)
        timings["verify_partials"] = time.perf_counter() - mark
    return signatures


def run_one(
    entries: int, places: int, mode: str, workers: int, layout: ContractLayout
) -> dict[str, Any]:
    """Build, sign and verify one contract in this process; returns the figures."""
    executor: Executor | None = None
    if workers > 1:
        executor = engine.process_pool(workers)
        list(executor.map(abs, range(workers)))  # start the workers before timing
    timings: dict[str, float] = {}
    try:
        start = time.perf_counter()
        dlc, secrets = build(entries, places, layout)
        timings["build"] = time.perf_counter() - start
        signer = sign_local if mode == "local" else sign_protocol
        signatures = signer(dlc, secrets, executor, timings)
        mark = time.perf_counter()
        verify_signatures(dlc, signatures, executor=executor)
        timings["verify"] = time.perf_counter() - mark
    finally:
        if executor is not None:
            executor.shutdown()
    aggregated, partial = signature_counts(dlc.params)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        "entries": entries,
        "places": places,
        "mode": mode,
        "layout": layout.value,
        "workers": workers,
        "outcomes": len(dlc.outcome_txs),
        "aggregated_signatures": aggregated,
        "partial_signatures": partial,
        "timings": timings,
        "peak_rss_main": own,
        "peak_rss_worker": children,
    }


def print_row(result: dict[str, Any]) -> None:
    t = result["timings"]
    total = t["build"] + t["sign"] + t["verify"]
    peak = (result["peak_rss_main"] + result["workers"] * result["peak_rss_worker"]) / 2**20
    detail = ""
    if result["mode"] == "protocol":
        detail = (
            f"   [nonces {t['nonces']:.1f}s, aggregate+own {t['aggregate_nonces']:.1f}s, "
            f"players {t['partial_signatures']:.1f}s, combine {t['combine']:.1f}s]"
        )
        if "verify_partials" in t:
            detail += f" [each player's partial signatures verified: {t['verify_partials']:.1f}s]"
    print(
        f"({result['entries']:>2},{result['places']}) {result['mode']:<8} "
        f"{result['outcomes']:>7,} {result['aggregated_signatures']:>8,} "
        f"{result['partial_signatures']:>9,} {t['build']:>7.2f} {t['sign']:>7.2f} "
        f"{t['verify']:>7.2f} {total:>7.2f} {peak:>8.0f} "
        f"{result['partial_signatures'] / t['sign']:>10,.0f}{detail}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="e.g. 5x3,10x3 (entries x places)")
    parser.add_argument("--mode", choices=["local", "protocol", "both"], default="local")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--layout", choices=[layout.value for layout in ContractLayout], default="outcome_bound"
    )
    parser.add_argument(
        "--verify-partials",
        action="store_true",
        help="protocol mode: also time verifying every received partial signature one by one",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    layout = ContractLayout(args.layout)
    if args.one:
        entries, places, mode = args.one.split(":")
        print(json.dumps(run_one(int(entries), int(places), mode, args.workers, layout)))
        return
    modes = ["local", "protocol"] if args.mode == "both" else [args.mode]
    print(f"layout {layout.value}, {args.workers} worker process(es), {os.cpu_count()} CPUs")
    print(
        "size    mode     outcomes  agg sigs  partials   build    sign  verify   total  peak MiB"
        "  partials/s"
    )
    for size in args.sizes.split(","):
        entries, places = (int(v) for v in size.lower().split("x"))
        for mode in modes:
            command = [
                sys.executable,
                __file__,
                "--one",
                f"{entries}:{places}:{mode}",
                "--workers",
                str(args.workers),
                "--layout",
                layout.value,
                *(["--verify-partials"] if args.verify_partials else []),
            ]
            done = subprocess.run(command, check=False, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{entries}x{places} {mode} failed:\n{done.stderr}")
            print_row(json.loads(done.stdout.strip().splitlines()[-1]))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
