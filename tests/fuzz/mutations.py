"""Hypothesis strategies that mutate valid inputs: bytes, text and JSON documents.

A mutation keeps most of a valid input so the parser gets past its first checks and meets
the damage deep inside: one byte or character changed, inserted, deleted, a slice repeated or
cut, or (for JSON) one node anywhere in the tree replaced, removed or wrapped.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

#: Values a JSON node is replaced with: wrong types, edges of integer domains, deep nesting.
HOSTILE_JSON: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(
        [0, -1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63) - 1, 1.5, float("nan")]
    ),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["", "00" * 32 + "\n", "zz", "0x00", "1e3", "١٢", "a" * 300]),
    st.just([[[[[[[[[[[]]]]]]]]]]]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def mutated_bytes(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0xFD, 0xFE, 0x01, 0x7F]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=9))
        elif kind == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 40))]
    return bytes(data)


@st.composite
def mutated_text(draw: st.DrawFn, original: str, alphabet: str | None = None) -> str:
    chars = list(original)
    pool = st.sampled_from(alphabet) if alphabet else st.characters(codec="utf-8")
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "case"]))
        at = draw(st.integers(0, max(0, len(chars) - 1)))
        if kind == "replace" and chars:
            chars[at] = draw(pool)
        elif kind == "insert":
            chars.insert(at, draw(pool))
        elif kind == "delete" and chars:
            del chars[at]
        elif kind == "truncate":
            del chars[at:]
        elif kind == "case" and chars:
            chars[at] = chars[at].swapcase()
    return "".join(chars)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated_json(draw: st.DrawFn, original: Any) -> Any:
    """``original`` with one node replaced, removed, wrapped in a list, or given a new key."""
    document = copy.deepcopy(original)
    path = draw(st.sampled_from(_paths(document)))
    kind = draw(st.sampled_from(["replace", "remove", "wrap", "extra_key"]))
    if not path:
        return draw(HOSTILE_JSON) if kind != "wrap" else [document]
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if kind == "replace":
        parent[last] = draw(HOSTILE_JSON)
    elif kind == "remove":
        del parent[last]
    elif kind == "wrap":
        parent[last] = [parent[last]]
    elif isinstance(parent[last], dict):
        parent[last][draw(st.text(min_size=1, max_size=8))] = draw(HOSTILE_JSON)
    else:
        parent[last] = {"unexpected": parent[last]}
    return document
