"""Free loopback ports for processes a test starts beside the session's stack.

A port is chosen below the kernel's ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``): a port the
kernel hands out itself (a process binding port 0, the local end of any outgoing connection) is never one of
these, so nothing can take a chosen port between the choice and the test's process binding it. Every fixed port of
the project is below :data:`FIRST` (the stacks' 1xxxx and 22xxx, ``streams/stack/cluster``'s 24xxx, the chaos
suite's 26xxx), and a port is handed out once per test session.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: The range ports are chosen from: above the project's fixed ports, below Linux's default ephemeral range.
FIRST, LAST = 27000, 32000

_handed_out: set[int] = set()


def _ephemeral() -> range:
    try:
        low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(low, high + 1)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now, none in the ephemeral range, none handed out before."""
    ephemeral = _ephemeral()
    candidates = [p for p in range(FIRST, LAST) if p not in ephemeral and p not in _handed_out]
    random.shuffle(candidates)
    chosen = []
    for port in candidates:
        if _bindable(port):
            chosen.append(port)
            _handed_out.add(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(f"fewer than {count} free ports in {FIRST}-{LAST} outside the ephemeral range {ephemeral}")


def free_port() -> int:
    return free_ports(1)[0]
