"""What the fuzzers did, reported at the end of the run: HTTP requests sent per target (with
the operations covered and the classes of answers) and Hypothesis examples run per module.

Counts are kept per process. Under xdist each worker hands its counts to the controller in
``config.workeroutput`` when its session ends; the controller adds them up as workers go down
and prints the summary, so ``pytest -n 2`` reports the same tables as a run without ``-n``.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import pytest

WORKER_OUTPUT_KEY = "fuzz_counts"
#: Hypothesis phases whose test cases are examples run (shrinking and explaining replay a
#: failure; the explicit ``@example`` cases are not part of the engine's statistics).
EXAMPLE_PHASES = ("reuse-phase", "generate-phase", "target-phase")
#: Test case statuses of examples that reached the test body's end or failed in it (invalid
#: and overrun cases were rejected while drawing).
RUN_STATUSES = frozenset({"valid", "interesting"})


@dataclass
class FuzzCounts:
    """Requests sent per HTTP target and Hypothesis examples run per test module."""

    sent: Counter[str] = field(default_factory=Counter)
    operations: dict[str, set[str]] = field(default_factory=dict)
    answers: dict[str, Counter[str]] = field(default_factory=dict)
    examples: Counter[str] = field(default_factory=Counter)
    tests: Counter[str] = field(default_factory=Counter)

    def request(self, target: str, operation: str, answer: str) -> None:
        """One HTTP request sent to ``target`` for ``operation``, answered with ``answer``
        (a class of status such as ``2xx``)."""
        self.sent[target] += 1
        self.operations.setdefault(target, set()).add(operation)
        self.answers.setdefault(target, Counter())[answer] += 1

    def hypothesis_run(self, module: str, statistics: dict[str, Any]) -> None:
        """One Hypothesis test of ``module`` finished, with the engine's ``statistics``."""
        self.tests[module] += 1
        for phase in EXAMPLE_PHASES:
            cases = statistics.get(phase, {}).get("test-cases", [])
            self.examples[module] += sum(case.get("status") in RUN_STATUSES for case in cases)

    def to_json(self) -> dict[str, Any]:
        """Plain data (what execnet can carry from a worker)."""
        return {
            "sent": dict(self.sent),
            "operations": {target: sorted(ops) for target, ops in self.operations.items()},
            "answers": {target: dict(counts) for target, counts in self.answers.items()},
            "examples": dict(self.examples),
            "tests": dict(self.tests),
        }

    def add(self, data: dict[str, Any]) -> None:
        """Add the counts of another process (``to_json`` of its counts)."""
        self.sent.update(data.get("sent", {}))
        for target, operations in data.get("operations", {}).items():
            self.operations.setdefault(target, set()).update(operations)
        for target, counts in data.get("answers", {}).items():
            self.answers.setdefault(target, Counter()).update(counts)
        self.examples.update(data.get("examples", {}))
        self.tests.update(data.get("tests", {}))

    def write(self, write_line: Callable[[str], None], section: Callable[[str], None]) -> None:
        if self.sent:
            section("HTTP fuzzing: requests sent per target")
            for name in sorted(self.sent):
                answers = ", ".join(f"{kind} {n}" for kind, n in sorted(self.answers[name].items()))
                write_line(
                    f"{name}: {self.sent[name]} requests over {len(self.operations[name])} "
                    f"operations ({answers})"
                )
            write_line(f"total: {self.sent.total()} requests")
        if self.tests:
            section("Hypothesis fuzzing: examples run per module")
            for module in sorted(self.tests):
                runs = self.tests[module]
                write_line(f"{module}: {self.examples[module]} examples in {runs} Hypothesis runs")
            write_line(f"total: {self.examples.total()} examples")


#: This process's counts (on the controller, with the workers' added).
COUNTS = FuzzCounts()


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Count the examples of a Hypothesis test: the engine's statistics pass through here on
    their way to the collector already set (Hypothesis's own plugin, which sets it in an outer
    wrapper of this hook)."""
    if "hypothesis" not in sys.modules:  # then no test is a Hypothesis test
        yield
        return
    from hypothesis.statistics import collector

    outer = collector.value
    module = item.nodeid.split("::", 1)[0]

    def note(statistics: dict[str, Any]) -> None:
        COUNTS.hypothesis_run(module, statistics)
        if outer is not None:
            outer(statistics)

    with collector.with_value(note):  # type: ignore[arg-type]  # (declared None-valued)
        yield


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker hands its counts to the controller (xdist sends ``workeroutput`` after this)."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output[WORKER_OUTPUT_KEY] = COUNTS.to_json()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The controller adds up the counts of a worker that finished (xdist)."""
    output = getattr(node, "workeroutput", None) or {}
    if WORKER_OUTPUT_KEY in output:
        COUNTS.add(output[WORKER_OUTPUT_KEY])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if hasattr(terminalreporter.config, "workerinput"):
        return  # a worker: the controller reports
    COUNTS.write(terminalreporter.write_line, terminalreporter.section)
