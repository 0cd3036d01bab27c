"""CPU seconds of whole process trees (a service and every process it started), read from ``/proc``.

PostgreSQL and MariaDB work in child processes or threads, Connect and Kafka in one JVM, the workers in one
Python process each: a tree's CPU time is what that part of the stack cost, whatever its wall time was on a
shared machine. Children still running are counted by their own times, children that ended by their
parent's ``cutime``/``cstime``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path

from streams.stack.manager import StackManager
from streams.stack.running import RunningStack


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its waited-for children), or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    """Every live process's children, by parent pid."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                out.setdefault(found[0], []).append(int(entry.name))
    return out


def tree_seconds(pid: int, children: Mapping[int, list[int]]) -> float:
    """CPU seconds of ``pid`` and of every live descendant (0.0 if it is gone)."""
    total, todo, seen = 0.0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        found = _stat(current)
        if found is not None:
            total += found[1]
            todo.extend(children.get(current, ()))
    return total


def cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process tree."""
    children = _children()
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError, ValueError):
            out[name] = round(tree_seconds(pid, children), 1)
    return out


def stack_pids(stack: RunningStack) -> dict[str, int]:
    """The stack's services (Kafka, Connect, both databases, both APIs) by ``stack <name>``, each its process
    tree's root."""
    return {f"stack {s.name}": s.pid for s in StackManager(stack.settings).status() if s.pid is not None}


def per_change(used: Mapping[str, float], changes: int, *, cores: int, seconds: float,
               idle: Mapping[str, float] | None = None) -> dict[str, float]:
    """What ``used`` (CPU seconds per process tree over ``seconds`` of wall, :func:`spent`) costs a change.

    ``idle`` is each tree's CPU seconds a second with nothing to do (:func:`idle_rates`, measured just before):
    polling consumers, Connect's source tasks and their heartbeats cost that whatever the rate. What is left
    is the marginal cost (``marginal_ms`` a change, and each tree's), so ``ceiling_per_s`` is the most changes a
    second the ``cores`` could carry, the idle load (``idle_cores``) taken first, were nothing else running;
    ``total_ms`` is everything over the changes."""
    total = sum(used.values())
    rates = idle or {}
    idle_cores = sum(rates.values())
    marginal = {name: max(0.0, spent_s - rates.get(name, 0.0) * seconds) for name, spent_s in used.items()}
    marginal_s = sum(marginal.values())
    if changes <= 0 or marginal_s <= 0:
        return {}
    return {"total_ms": round(1000 * total / changes, 3), "idle_cores": round(idle_cores, 3),
            "marginal_ms": round(1000 * marginal_s / changes, 3), "cores": cores,
            "ceiling_per_s": round(max(0.0, cores - idle_cores) * changes / marginal_s),
            **{name: round(1000 * s / changes, 3) for name, s in sorted(marginal.items(), key=lambda kv: -kv[1])}}


def idle_rates(pids: Mapping[str, int], seconds: float) -> dict[str, float]:
    """CPU seconds a second of each named process tree over the next ``seconds`` (sleeps that long)."""
    before = cpu_seconds(pids)
    began = time.monotonic()
    time.sleep(seconds)
    after = cpu_seconds(pids)
    wall = time.monotonic() - began
    return {name: round(max(0.0, after[name] - before.get(name, 0.0)) / wall, 4) for name in after}


def spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each tree used between two readings, largest first."""
    used = {name: round(after[name] - before.get(name, 0.0), 1) for name in after}
    return dict(sorted(used.items(), key=lambda kv: -kv[1]))
