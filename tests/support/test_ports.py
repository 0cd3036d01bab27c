"""Ports for a test's processes are never ones the kernel hands out itself (a sink binding port 0 took the
worker's chosen port once), never one of the stack's, and never the same twice in a session."""

from __future__ import annotations

import socket

from streams.stack.profiles import STACK_PORTS_FOR_TESTS
from support.ports import FIRST, _ephemeral, free_ports


def test_chosen_ports_are_free_distinct_and_outside_the_ephemeral_range_and_the_stack() -> None:
    first, second = free_ports(20), free_ports(20)
    chosen = first + second
    assert len(set(chosen)) == 40
    ephemeral = _ephemeral()
    assert not [p for p in chosen if p in ephemeral]
    assert not set(chosen) & {int(p) for p in STACK_PORTS_FOR_TESTS.values()}
    with socket.socket() as s:
        s.bind(("127.0.0.1", chosen[0]))


def test_the_kernels_own_ports_are_not_chosen() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        taken = s.getsockname()[1]
        assert taken >= FIRST
        assert taken not in free_ports(50)
