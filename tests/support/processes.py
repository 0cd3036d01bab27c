"""Worker processes the tests start: each in a session of its own (its children with it), stopped as an operator
would stop it: SIGTERM, then SIGKILL if it has not ended within the grace period."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from streams.stack.settings import PROJECT_ROOT

#: The engine's test worker: counts records per key and forwards each with its count (see the script).
COUNT_WORKER = PROJECT_ROOT / "tests" / "flows" / "engine" / "count_worker.py"
#: The same with its counts in RocksDB, and the worker's endpoints if asked (see the script).
STATE_WORKER = PROJECT_ROOT / "tests" / "flows" / "engine" / "state_worker.py"


def start_count_worker(env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """:data:`COUNT_WORKER` configured by ``env`` (``COUNT_BROKER``, ``COUNT_FLOW``, ``COUNT_IN``, ``COUNT_OUT``),
    its output appended to ``log``."""
    return start_script(COUNT_WORKER, env, log)


def start_script(script: Path, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The Python ``script`` with ``env`` on top of this process's, in a session of its own, its output appended to
    ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, str(script)],
                                env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes], grace_s: float = 30) -> None:
    """SIGTERM to the process's group, SIGKILL after ``grace_s``; returns once it has ended."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
