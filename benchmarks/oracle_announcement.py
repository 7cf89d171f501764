"""Cost of an oracle announcement and of settling it, by outcome-space size.

Prints, for a few (entries, places) pairs: the outcome count, the time to compute every locking
point (what the oracle does at event creation and the client does to check an announcement),
the time to index them, and the time to map an attestation to its outcome.
"""

from __future__ import annotations

import time

from ticketdlc.competition import Announcement, OutcomeSpace, attest, locking_points
from ticketdlc.crypto.secp import Point

ORACLE_SECRET = int("11" * 32, 16)
NONCE_SECRET = int("22" * 32, 16)
CASES = [(5, 3), (10, 3), (20, 3), (25, 3), (12, 4)]


def main() -> None:
    oracle_pubkey = Point.from_secret(ORACLE_SECRET)
    nonce_point = Point.from_secret(NONCE_SECRET)
    print(f"{'entries':>7} {'places':>6} {'outcomes':>9} {'points s':>9} {'µs/point':>9} "
          f"{'index ms':>9} {'attest ms':>9} {'lookup µs':>9}")  # fmt: skip
    for entries, places in CASES:
        space = OutcomeSpace(entries, places)
        started = time.perf_counter()
        points = locking_points(space, oracle_pubkey, nonce_point)
        derive = time.perf_counter() - started
        started = time.perf_counter()
        announcement = Announcement(space, points)
        index = time.perf_counter() - started
        started = time.perf_counter()
        winner = space.count // 2
        s = attest(ORACLE_SECRET, NONCE_SECRET, space.message(winner))
        signing = time.perf_counter() - started
        started = time.perf_counter()
        assert announcement.outcome_index(s) == winner
        lookup = time.perf_counter() - started
        print(
            f"{entries:>7} {places:>6} {space.count:>9} {derive:>9.3f} "
            f"{derive / space.count * 1e6:>9.1f} {index * 1e3:>9.2f} {signing * 1e3:>9.2f} "
            f"{lookup * 1e6:>9.1f}"
        )


if __name__ == "__main__":
    main()
