"""`isthmus ARGS` run in the test's own process, read as a process's run is read: its exit code, standard output
and standard error. The command is parsed and run by the same ``main`` that ``python -m streams.cli.main`` runs;
what a subprocess would add is a second interpreter importing the package (about a CPU-second each on the CI's
2 cores), so the tests that read a command's output many times run it here. The environment given is the
command's alone (the test process's is put back afterwards, with whatever the command added to it)."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Mapping
from contextlib import redirect_stderr, redirect_stdout


def isthmus(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``isthmus ARGS`` with ``env`` as its environment (this process's when None), as a finished process."""
    from streams.cli.main import main

    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors and --help
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["isthmus", *args], code, out.getvalue(), err.getvalue())
