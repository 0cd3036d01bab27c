"""CPU seconds of whole process trees (a service and every process it started), read from ``/proc``.

PostgreSQL and MariaDB work in child processes or threads, Connect and Kafka in one JVM, the workers in one
Python process each: a tree's CPU time is what that part of the stack cost, whatever its wall time was on a
shared machine. Children still running are counted by their own times, children that ended by their
parent's ``cutime``/``cstime``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path


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


def spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each tree used between two readings, largest first."""
    used = {name: round(after[name] - before.get(name, 0.0), 1) for name in after}
    return dict(sorted(used.items(), key=lambda kv: -kv[1]))
