"""The worker and the sinks fix glibc's mmap threshold: memory a burst of large buffers took goes back when freed,
instead of staying resident as holes in the heap (streams/cli/allocator.py)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from streams.cli.allocator import ENV_THRESHOLD

pytestmark = pytest.mark.unit

#: Run in a fresh process: 16 MiB freed (glibc raises its threshold to that), then 64 buffers of 1 MiB taken and
#: freed below a small one that stays. Prints whether the threshold was fixed here, and the MiB still resident.
PROBE = """
import os, sys
from streams.cli.allocator import fix_mmap_threshold
fixed = fix_mmap_threshold() if sys.argv[1] == "fixed" else False
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
burst = bytearray(16 << 20)
del burst
before = resident()
buffers = [bytearray(1 << 20) for _ in range(64)]
stays = bytearray(200 << 10)
del buffers
print(fixed, (resident() - before) >> 20)
"""


def _probe(mode: str, **env: str) -> tuple[str, int]:
    environment = {k: v for k, v in os.environ.items() if k != ENV_THRESHOLD} | env
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env=environment).stdout.split()
    return out[0], int(out[1])


def test_buffers_freed_after_a_large_one_leave_the_resident_set_once_the_threshold_is_fixed() -> None:
    assert _probe("default") == ("False", 64), "without it, glibc keeps the 64 MiB freed in its heap"
    fixed, resident_mib = _probe("fixed")
    assert fixed == "True"
    assert resident_mib < 8


def test_a_threshold_given_in_the_environment_is_left_as_it_is() -> None:
    fixed, resident_mib = _probe("fixed", **{ENV_THRESHOLD: str(128 * 1024)})
    assert fixed == "False"
    assert resident_mib < 8, "glibc applied the environment's threshold itself"


class _Started(Exception):
    """Raised where the command would load its settings and start."""


@pytest.mark.parametrize("command", ["worker", "sink"])
def test_the_worker_and_the_sinks_fix_it_before_they_start(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.cli import allocator, runtime, sink, worker

    # the sink imports what it runs when it runs (`isthmus sink --help` imports none of it): patched at the source
    run, threshold_from, settings_from = (worker.run, worker, worker) if command == "worker" else (
        sink.run_sink, allocator, runtime)
    calls: list[str] = []

    def load_runtime(args: argparse.Namespace) -> None:
        calls.append("settings loaded")
        raise _Started

    monkeypatch.setattr(threshold_from, "fix_mmap_threshold", lambda: calls.append("threshold fixed") or True)
    monkeypatch.setattr(settings_from, "load_runtime", load_runtime)
    with pytest.raises(_Started):
        run(argparse.Namespace(flow=[], log_level="INFO", settings=False))
    assert calls == ["threshold fixed", "settings loaded"]
