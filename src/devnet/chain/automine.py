"""Mine a block every few seconds in the background (``coordinator dev``)."""

from __future__ import annotations

import logging
import threading

from devnet.chain.chain import BlockRejectedError, DevnetChain

log = logging.getLogger(__name__)


class Autominer:
    """A daemon thread mining one block per interval; an interval of 0 pauses it."""

    def __init__(self, chain: DevnetChain, interval_secs: float = 0.0) -> None:
        self.chain = chain
        self.interval_secs = interval_secs
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="automine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def set_interval(self, interval_secs: float) -> None:
        """Change the interval (0 = off); takes effect immediately."""
        self.interval_secs = interval_secs
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            interval = self.interval_secs
            woken = self._wake.wait(interval if interval > 0 else None)
            self._wake.clear()
            if self._stop.is_set() or woken or interval <= 0:
                continue
            try:
                self.chain.mine(1)
            except BlockRejectedError as exc:
                log.error("automine: block rejected: %s", exc)
            except Exception:
                log.exception("automine failed")
