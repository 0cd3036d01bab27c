"""`isthmus demo` (what `make demo` runs), bounded in time: the stack, the connectors, the flows, both sinks and
the simulator run, and sync is visible: commands are produced and applied by the target APIs."""

from __future__ import annotations

import os
import subprocess
import sys

from support.ports import free_port

from streams.stack.running import RunningStack


def test_demo_shows_live_sync(stack: RunningStack) -> None:
    del stack  # the demo reuses the session's stack (its `up` finds everything running)
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "demo", "--seconds", "45", "--rate", "4"],
                            capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "ISTHMUS_WORKER_PORT": str(free_port()),
                                 "ISTHMUS_DASHBOARD_PORT": str(free_port())})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "-> ERP Account create" in output, output[-4000:]
    assert "applied by ERP: Account create" in output, output[-4000:]
    assert "applied by CRM:" in output, output[-4000:]
    assert "demo finished:" in output
    assert "dashboard  http://127.0.0.1:" in output
