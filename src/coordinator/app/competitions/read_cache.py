"""Rendered answers of public read routes, kept while the store is unchanged.

An answer is stored with the store's :meth:`~coordinator.domain.ports.competitions.
CompetitionStore.version` read before it was built, and served again only while the version is
the same: never stale, and a busy list costs one query per write instead of one per request.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Final

MAX_ANSWERS: Final = 64


@dataclass(frozen=True)
class Answer:
    body: bytes
    headers: dict[str, str]


@dataclass
class ReadCache:
    """At most ``size`` answers (least recently used dropped first)."""

    size: int = MAX_ANSWERS
    _answers: OrderedDict[Hashable, tuple[int, Answer]] = field(default_factory=OrderedDict)
    _builds: dict[Hashable, asyncio.Lock] = field(default_factory=dict)

    def build_lock(self, key: Hashable) -> asyncio.Lock:
        """One build at a time per key: readers that arrive meanwhile wait and take its answer
        instead of each building the same one."""
        if len(self._builds) >= self.size:
            for idle in [k for k, lock in self._builds.items() if not lock.locked()]:
                del self._builds[idle]
        return self._builds.setdefault(key, asyncio.Lock())

    def get(self, key: Hashable, version: int) -> Answer | None:
        found = self._answers.get(key)
        if found is None or found[0] != version:
            return None
        self._answers.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, version: int, answer: Answer) -> None:
        self._answers[key] = (version, answer)
        self._answers.move_to_end(key)
        while len(self._answers) > self.size:
            self._answers.popitem(last=False)
