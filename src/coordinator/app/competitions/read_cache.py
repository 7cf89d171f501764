"""Rendered answers of public read routes, kept while the store is unchanged.

An answer is stored with the store's :meth:`~coordinator.domain.ports.competitions.
CompetitionStore.version` read before it was built. A request is served an answer whose
version is at least the one the request saw on arrival: the answer includes every write
committed before the request came, so it is never stale for its reader, and a busy list costs
one query per write instead of one per request. While writes keep coming, the requests that
waited for a build take its answer if it started after they arrived, instead of each building
again in turn.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Final

from coordinator.app.single_flight import KeyedLocks

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
    _builds: KeyedLocks = field(default_factory=KeyedLocks)

    def building(self, key: Hashable) -> AbstractAsyncContextManager[None]:
        """One build at a time per key: readers that arrive meanwhile wait and take its answer
        instead of each building the same one."""
        return self._builds.hold(key)

    def get(self, key: Hashable, version: int) -> Answer | None:
        """The answer for ``key`` built at ``version`` or later, if any."""
        found = self._answers.get(key)
        if found is None or found[0] < version:
            return None
        self._answers.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, version: int, answer: Answer) -> None:
        self._answers[key] = (version, answer)
        self._answers.move_to_end(key)
        while len(self._answers) > self.size:
            self._answers.popitem(last=False)
