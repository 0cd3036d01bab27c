"""Loopback checks: the reference apps bind, and the simulator talks, to this machine only."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from reference.common.exceptions import NotLoopback


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_loopback_url(url: str, what: str) -> str:
    """Return ``url`` without a trailing slash if its host is loopback; raise otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotLoopback(f"{what} {url!r} is not an http URL; use http://127.0.0.1:<port>")
    if not is_loopback(parts.hostname):
        raise NotLoopback(f"{what} {url!r} is not on loopback; the reference apps only run on this machine, "
                          "use http://127.0.0.1:<port>")
    return url.rstrip("/")
