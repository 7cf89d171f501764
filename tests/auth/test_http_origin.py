"""Which URLs a listener answers to and who the client is, from configuration only."""

from __future__ import annotations

import pytest

from coordinator_core.http_origin import OriginPolicy, normalise_origin, request_target


@pytest.mark.parametrize(
    ("origin", "normal"),
    [
        ("HTTP://Example.ORG:80", "http://example.org"),
        ("https://example.org:443/", "https://example.org"),
        ("https://example.org:8443", "https://example.org:8443"),
        ("http://[::1]:9990", "http://[::1]:9990"),
    ],
)
def test_origins_are_normalised(origin: str, normal: str) -> None:
    assert normalise_origin(origin) == normal


@pytest.mark.parametrize(
    "origin",
    ["ftp://example.org", "example.org", "https://example.org/api", "https://u@example.org",
     "https://example.org?x", "https://example.org#f", "https://"],
)  # fmt: skip
def test_non_origins_are_refused(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        normalise_origin(origin)


def test_expected_urls_ignore_host_and_untrusted_forwarding() -> None:
    origins = ["https://a.example", "http://127.0.0.1:9990"]
    policy = OriginPolicy.from_config(origins, ["10.0.0.0/8"])
    headers = {"host": "evil.example", "x-forwarded-host": "evil.example",
               "x-forwarded-proto": "https"}  # fmt: skip
    assert policy.expected_urls("192.0.2.1", headers, "/x?y=1") == (
        "https://a.example/x?y=1",
        "http://127.0.0.1:9990/x?y=1",
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-forwarded-proto": "https", "host": "a.example"}, ("https://a.example/x",)),
        ({"x-forwarded-proto": "https", "x-forwarded-host": "A.example:443"},
         ("https://a.example/x",)),
        ({"x-forwarded-proto": "http", "host": "a.example"}, ()),  # not a configured origin
        ({"x-forwarded-proto": "https", "host": "evil.example"}, ()),
        ({"x-forwarded-proto": "https, http", "host": "a.example"}, ()),
        ({"x-forwarded-proto": "https", "x-forwarded-host": "a.example/x"}, ()),
        ({"x-forwarded-proto": "gopher", "host": "a.example"}, ()),
        ({"host": "a.example"}, ("https://a.example/x",)),  # no forwarding: the configured set
    ],
)  # fmt: skip
def test_trusted_proxy_forwarding_narrows_to_a_configured_origin(
    headers: dict[str, str], expected: tuple[str, ...]
) -> None:
    policy = OriginPolicy.from_config(["https://a.example"], ["10.0.0.0/8"])
    assert policy.expected_urls("10.1.2.3", headers, "/x") == expected


def test_client_address_from_a_trusted_proxy_only() -> None:
    policy = OriginPolicy.from_config(["https://a.example"], ["10.0.0.1", "fd00::/8"])
    claimed = {"x-real-ip": " 203.0.113.9 "}
    assert policy.client_address("10.0.0.1", claimed) == "203.0.113.9"
    assert policy.client_address("fd00::5", claimed) == "203.0.113.9"
    assert policy.client_address("10.0.0.2", claimed) == "10.0.0.2"
    assert policy.client_address("10.0.0.1", {"x-real-ip": "not an ip"}) == "10.0.0.1"
    assert policy.client_address("10.0.0.1", {}) == "10.0.0.1"
    assert policy.client_address(None, claimed) == "unknown"
    assert not policy.is_trusted_proxy("not-an-address")


def test_request_target_keeps_the_raw_path_and_query() -> None:
    assert request_target(b"/a%20b", b"x=1&y=%2F") == "/a%20b?x=1&y=%2F"
    assert request_target(b"/a", b"") == "/a"
