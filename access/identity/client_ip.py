"""Which address a request came from, for the audit log: the connection's peer, or, only when
that peer is a proxy we trust, the address the proxies recorded in `X-Forwarded-For`.

Contract of `client_ip`: with no trusted proxies it returns the peer and never reads a header.
When the peer is trusted, the `X-Forwarded-For` chain is read from the right (the entry the
nearest proxy appended) and the first entry that is not itself a trusted proxy is the client;
entries further left were written by whoever sent the request and are never believed. A chain
that is malformed anywhere it is read falls back to the nearest address we can vouch for (the
peer, or the last trusted hop), never to a value the client chose. The result is always a
normalised IP address or None.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import TypeAlias

from access.errors import InvalidInput

__all__ = ["TRUSTED_PROXIES_ENV", "Network", "client_ip", "parse_trusted_proxies"]

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUSTED_PROXIES_ENV = "GATEHOUSE_TRUSTED_PROXIES"
MAX_HOPS = 20  # a longer chain is read only this far from the right
_MAX_HEADER = 4096


def parse_trusted_proxies(text: str | None) -> tuple[Network, ...]:
    """The networks of `GATEHOUSE_TRUSTED_PROXIES`: addresses or CIDRs separated by commas or
    spaces; empty or unset means no proxy is trusted. A bad entry is an error naming it, so a
    typo never silently trusts (or distrusts) a network."""
    networks = []
    for entry in (text or "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise InvalidInput(TRUSTED_PROXIES_ENV,
                               f"{entry[:64]!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def client_ip(peer: str | None, headers: Mapping[str, str],
              trusted: Iterable[Network]) -> str | None:
    """The client's address (see the module docstring); None when the peer is unknown."""
    address = _address(peer)
    if address is None:
        return None
    networks = tuple(trusted)
    if not _is_trusted(address, networks):
        return str(address)
    for hop in reversed(_forwarded_for(headers)[-MAX_HOPS:]):
        forwarded = _address(hop)
        if forwarded is None:
            break  # garbage where a trusted proxy should have written an address
        address = forwarded
        if not _is_trusted(address, networks):
            break
    return str(address)


def _forwarded_for(headers: Mapping[str, str]) -> list[str]:
    """Every X-Forwarded-For entry, in order, across repeated headers (any case of the name)."""
    values = [v for k, v in headers.items() if k.lower() == "x-forwarded-for"]
    joined = ",".join(v for v in values if isinstance(v, str))[-_MAX_HEADER:]
    return [part.strip() for part in joined.split(",")]


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(text, str) or not text or len(text) > 64:
        return None
    candidate = text.strip()
    if candidate.startswith("[") and "]" in candidate:  # "[2001:db8::1]:443"
        candidate = candidate[1:candidate.index("]")]
    elif candidate.count(":") == 1:  # "192.0.2.1:443"
        candidate = candidate.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                networks: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)
