"""Dead-code check of ``src/`` (run by ``make lint``): unused functions, methods, classes,
properties and imports, as vulture finds them.

Use counts over ``src``, ``tests`` and ``benchmarks`` (a helper only tests use still counts as
used); the names below are reached in ways vulture cannot see or are building blocks of parts
being wired up. Unused variables and attributes are not reported: most are wire-format fields
that are read by name.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vulture import Vulture

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["src", "tests", "benchmarks"]
REPORTED_KINDS = {"function", "method", "class", "property", "import", "unreachable_code"}
#: Decorators that register their function with a framework (CLI, HTTP, pydantic, pytest).
REGISTERING_DECORATORS = [
    "@*.command",
    "@*.group",
    "@*.get",
    "@*.post",
    "@*.put",
    "@*.delete",
    "@*.patch",
    "@*.websocket",
    "@*.middleware",
    "@*.exception_handler",
    "@*.on_event",
    "@model_validator",
    "@field_validator",
    "@field_serializer",
    "@pytest.fixture",
    "@_script_routes",
]


#: Called by name: wallet worker requests (``getattr(worker, request["method"])``) and the
#: uvicorn ``Server.capture_signals`` override.
CALLED_BY_NAME = ["apply_unconfirmed", "script_of", "unlock", "capture_signals"]
#: Read by the page templates (src/coordinator/app/web/templates), which vulture does not scan.
USED_IN_TEMPLATES = ["seats_left", "price_sats", "is_full", "points", "has_contract"]


def main() -> int:
    vulture = Vulture(
        ignore_decorators=REGISTERING_DECORATORS,
        ignore_names=CALLED_BY_NAME + USED_IN_TEMPLATES,
    )
    vulture.scavenge([str(ROOT / path) for path in SCANNED])
    unused = [
        item
        for item in vulture.get_unused_code(min_confidence=60)
        if item.typ in REPORTED_KINDS and Path(item.filename).resolve().is_relative_to(ROOT / "src")
    ]
    for item in unused:
        print(item.get_report(add_size=False))
    if unused:
        print(f"{len(unused)} unused names in src/: use, remove or whitelist them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
