"""Which URLs a server answers to, and who the client is, from configuration only.

A NIP-98 event signs the absolute URL the client used. A server cannot learn that URL from the
request alone: the ``Host`` header and ``X-Forwarded-*`` headers are chosen by the sender. So
the expected URL is built from the *configured* origins (``scheme://host[:port]``) plus the
request target exactly as sent. Forwarding headers count only when the TCP peer is one of the
configured trusted proxies; even then the origin they name must be a configured one, and they
narrow the accepted URL to the one the proxy says the client used.

The client address (for rate limits) is likewise the TCP peer unless a trusted proxy supplies
it in the configured header.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOST = re.compile(r"\A(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?\Z")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` in canonical form (lower case, default port dropped).

    Raises ValueError for anything but a bare http(s) origin (no path, query, fragment or
    user info).
    """
    parts = urlsplit(origin.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) origin: {origin!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"an origin has no path, query, fragment or user info: {origin!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    return (
        f"{scheme}://{host}"
        if port in (None, _DEFAULT_PORTS[scheme])
        else f"{scheme}://{host}:{port}"
    )


def parse_networks(values: Iterable[str]) -> tuple[IpNetwork, ...]:
    """IP addresses or CIDR networks; raises ValueError on a bad entry."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


@dataclass(frozen=True)
class OriginPolicy:
    """The origins one listener answers to and the proxies it trusts."""

    origins: tuple[str, ...]
    trusted_proxies: tuple[IpNetwork, ...] = ()
    client_ip_header: str = "x-real-ip"

    @classmethod
    def from_config(
        cls,
        origins: Iterable[str],
        trusted_proxies: Iterable[str] = (),
        client_ip_header: str = "X-Real-IP",
    ) -> OriginPolicy:
        unique = dict.fromkeys(normalise_origin(origin) for origin in origins)
        return cls(tuple(unique), parse_networks(trusted_proxies), client_ip_header.lower())

    def is_trusted_proxy(self, peer: str | None) -> bool:
        """True if ``peer`` (the TCP peer's address) is a configured trusted proxy."""
        if peer is None or not self.trusted_proxies:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    def expected_urls(
        self, peer: str | None, headers: Mapping[str, str], target: str
    ) -> tuple[str, ...]:
        """The absolute URLs a request for ``target`` (path and query as sent) may have signed.

        Empty when a trusted proxy names an origin that is not configured (or names it in a
        malformed way): such a request matches no signed URL.
        """
        if self.is_trusted_proxy(peer):
            proto = headers.get("x-forwarded-proto")
            forwarded_host = headers.get("x-forwarded-host")
            if proto is not None or forwarded_host is not None:
                origin = self._forwarded_origin(proto, forwarded_host or headers.get("host"))
                return (origin + target,) if origin in self.origins else ()
        return tuple(origin + target for origin in self.origins)

    def client_address(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The client's IP address: the TCP peer, or what a trusted proxy says it is."""
        if self.is_trusted_proxy(peer):
            claimed = headers.get(self.client_ip_header)
            if claimed is not None:
                try:
                    return str(ipaddress.ip_address(claimed.strip()))
                except ValueError:
                    pass
        return peer or "unknown"

    @staticmethod
    def _forwarded_origin(proto: str | None, host: str | None) -> str | None:
        scheme = (proto or "http").strip().lower()
        if scheme not in _DEFAULT_PORTS or host is None or not _HOST.match(host.strip()):
            return None
        try:
            return normalise_origin(f"{scheme}://{host.strip()}")
        except ValueError:
            return None


def request_target(raw_path: bytes, query_string: bytes) -> str:
    """The request target as the client sent it: raw path plus ``?query`` when present."""
    path = raw_path.decode("latin-1")
    query = query_string.decode("latin-1")
    return path + (f"?{query}" if query else "")
