"""UUIDv7 identifiers: generated, recognised, parsed with a clear reason."""

from __future__ import annotations

import pytest

from coordinator_core.ids import is_uuid7, parse_uuid7, uuid7, uuid7_timestamp_ms


def test_parse_accepts_version_7_in_any_spelling() -> None:
    value = uuid7()
    assert is_uuid7(value)
    for text in (str(value), str(value).upper(), value.hex, f"{{{value}}}"):
        assert parse_uuid7(text) == value
    assert uuid7_timestamp_ms(parse_uuid7(str(value))) == uuid7_timestamp_ms(value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not a UUID"),
        ("0190a0a0-0000-7000-8000-00000000000", "not a UUID"),
        ("zz90a0a0-0000-7000-8000-000000000000", "not a UUID"),
        ("6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f", "not a version 7 UUID"),  # version 4
        ("0190a0a0-0000-7000-c000-000000000000", "not a version 7 UUID"),  # wrong variant
    ],
)
def test_parse_refuses_other_text_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_uuid7(text)
