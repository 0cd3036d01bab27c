"""A benchmark stopped by SIGTERM unwinds: what it started is stopped by its ``finally`` blocks, not left running."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from streams.stack.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit


def test_sigterm_unwinds_the_run_and_exits_143() -> None:
    run = subprocess.Popen([sys.executable, "-u", "-m", "bench", "flows", "--flows", "isthmus-stock",
                            "--flow-keys", "2000", "1000000", "--no-markdown"],
                           cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert run.stdout is not None
        first = run.stdout.readline()  # the first run's figure: main is past its setup, the million is under way
        assert first.startswith("bench flows: isthmus-stock"), first
        run.send_signal(signal.SIGTERM)
        rest = run.communicate(timeout=60)[0]
    finally:
        run.kill()
    assert run.returncode == 143, rest
    assert "bench: total" in rest, f"the run's finally block did not run: {rest!r}"
