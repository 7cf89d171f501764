"""The devnet signing gateway with its work profiled, for ``signing_bench.py --profile-gateway``.

Each call of the service's signing routes and of its background tick runs under a ``cProfile``
of its own thread's CPU time; on SIGUSR1 the merged statistics are written to the file named
by ``$GATEWAY_PROFILE``, then ``$GATEWAY_PROFILE.done`` is created. Start it with the gateway's
arguments and ``--workers 1``, so that the signing rounds run in this process.
"""

from __future__ import annotations

import cProfile
import functools
import os
import pstats
import signal
import threading
import time
from pathlib import Path
from typing import Any

from devnet.signer import __main__ as gateway
from devnet.signer.service import GatewayService

PROFILED = ("tick", "create_signing", "signing_status", "approve")

_lock = threading.Lock()
_merged: list[pstats.Stats] = []


def _profiled(name: str) -> None:
    original = getattr(GatewayService, name)

    @functools.wraps(original)
    def call(self: GatewayService, *args: Any, **kwargs: Any) -> Any:
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        try:
            return original(self, *args, **kwargs)
        finally:
            profile.disable()
            with _lock:
                if _merged:
                    _merged[0].add(profile)
                else:
                    _merged.append(pstats.Stats(profile))

    setattr(GatewayService, name, call)


def _dump(*_: object) -> None:
    out = Path(os.environ["GATEWAY_PROFILE"])
    with _lock:
        if _merged:
            _merged[0].dump_stats(out)
    out.with_name(out.name + ".done").touch()


def main() -> None:
    for name in PROFILED:
        _profiled(name)
    signal.signal(signal.SIGUSR1, _dump)
    gateway.main()


if __name__ == "__main__":
    main()
