"""Bitcoin Core's consensus code (libbitcoinkernel through py-bitcoinkernel) for the devnet chain.

The kernel owns the block files and the chainstate in ``<data dir>/kernel``. A block counts as
mined only when the kernel's ``block_checked`` callback reports it VALID *and* the active tip
moved to it: ``process_block``'s return value only says whether the block was new.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pbk

from coordinator_core.script_check import first_invalid_input

log = logging.getLogger(__name__)

_BLOCK_CHECKED = re.compile(r"BlockChecked: block hash=([0-9a-f]{64}) state=(.*)")
_MAX_REMEMBERED_REASONS = 256


@dataclass(frozen=True)
class BlockVerdict:
    """What the kernel decided about one block."""

    valid: bool
    reason: str  # Bitcoin Core's reject reason, e.g. "bad-cb-amount, coinbase pays too much"


def split_block(raw_block: bytes) -> list[bytes]:
    """The serialized transactions of a serialized block (parsed by the kernel)."""
    return [bytes(tx) for tx in pbk.Block(raw_block).transactions]


class _KernelLog:
    """Collects the kernel's ``BlockChecked`` reject reasons (the log is process-wide)."""

    _instance: _KernelLog | None = None
    _create_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reasons: OrderedDict[str, str] = OrderedDict()
        pbk.enable_log_category(pbk.LogCategory.VALIDATION)
        self._connection = pbk.LoggingConnection(self._on_message)

    @classmethod
    def get(cls) -> _KernelLog:
        with cls._create_lock:
            if cls._instance is None:
                cls._instance = _KernelLog()
            return cls._instance

    def _on_message(self, message: str) -> None:
        match = _BLOCK_CHECKED.search(message)
        if match is None:
            if "[error]" in message:
                log.debug("kernel: %s", message.strip())
            return
        with self._lock:
            self._reasons[match.group(1)] = match.group(2).strip()
            while len(self._reasons) > _MAX_REMEMBERED_REASONS:
                self._reasons.popitem(last=False)

    def reason(self, block_hash_hex: str) -> str | None:
        with self._lock:
            return self._reasons.get(block_hash_hex)


class Kernel:
    """A regtest ChainstateManager on a data directory it must have to itself."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self._log = _KernelLog.get()
        self._checked: dict[bytes, tuple[pbk.ValidationMode, pbk.BlockValidationResult]] = {}
        callbacks = pbk.ValidationInterfaceCallbacks(block_checked=self._on_block_checked)
        context = pbk.make_context(pbk.ChainType.REGTEST, validation_callbacks=callbacks)
        datadir.mkdir(parents=True, exist_ok=True)
        options = pbk.ChainstateManagerOptions(
            context, str(datadir.absolute()), str((datadir / "blocks").absolute())
        )
        options.set_worker_threads_num(0)
        self._chainman: Any = pbk.ChainstateManager(options)

    def _on_block_checked(self, _user_data: object, block: Any, state: Any) -> None:
        self._checked[bytes(block.block_hash)] = (
            state.validation_mode,
            state.block_validation_result,
        )

    @property
    def _cm(self) -> Any:
        if self._chainman is None:
            raise RuntimeError("the kernel is closed")
        return self._chainman

    # -- chain queries ------------------------------------------------------------------------

    @property
    def height(self) -> int:
        """Height of the active tip (0 = genesis)."""
        return int(self._cm.get_active_chain().height)

    def _entry(self, height: int) -> Any:
        chain = self._cm.get_active_chain()
        if not 0 <= height <= chain.height:
            raise IndexError(f"no block at height {height}")
        return chain.block_tree_entries[height]

    def block_hash(self, height: int) -> bytes:
        """Block hash (internal byte order) of the active chain at ``height``."""
        return bytes(self._entry(height).block_hash)

    def block(self, height: int) -> bytes:
        """Serialized block of the active chain at ``height``."""
        return bytes(self._cm.blocks[self._entry(height)])

    # -- validation ---------------------------------------------------------------------------

    def submit_block(self, raw_block: bytes) -> BlockVerdict:
        """Hand a block to the kernel; it is accepted only if valid and it becomes the tip."""
        block = pbk.Block(raw_block)
        block_hash = bytes(block.block_hash)
        hash_hex = block_hash[::-1].hex()
        self._checked.pop(block_hash, None)
        try:
            self._cm.process_block(block)
        except pbk.ProcessBlockException as exc:
            log.debug("process_block raised for %s: %s", hash_hex, exc)
        checked = self._checked.pop(block_hash, None)
        reason = self._log.reason(hash_hex)
        if checked is None:
            return BlockVerdict(False, reason or "block was not checked (duplicate or unknown)")
        mode, result = checked
        if mode != pbk.ValidationMode.VALID:
            return BlockVerdict(False, reason or f"{mode.name}: {result.name}")
        if self.block_hash(self.height) != block_hash:
            return BlockVerdict(False, "valid but did not become the active tip")
        return BlockVerdict(True, "")

    def verify_scripts(
        self, raw_tx: bytes, spent_outputs: Sequence[tuple[bytes, int]]
    ) -> int | None:
        """Index of the first input whose script fails (all flags), or ``None`` if all pass."""
        return first_invalid_input(raw_tx, spent_outputs)

    def close(self) -> None:
        """Release the chainstate (flushes it to disk)."""
        if self._chainman is not None:
            self._chainman = None
            gc.collect()
