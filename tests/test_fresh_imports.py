"""Every module a user's command starts from imports on its own, in a fresh interpreter: an import cycle that the
test run hides (the suite imports modules in some order that happens to work) stopped `isthmus demo` once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = sorted(f"streams.cli.{p.stem}" for p in (ROOT / "streams" / "cli").glob("*.py") if p.stem != "__init__")
#: Packages a user's own code (a flow plugin, a notebook) imports first.
ENTRY_POINTS = ["streams.demo", "streams.codecs", "streams.codecs.avro.single_object", "streams.mapping",
                "streams.config", "streams.flows.engine.api", "streams.sinks.worker", "streams.warehouse.loader"]

pytestmark = pytest.mark.unit


def test_each_command_module_and_entry_point_imports_first_in_a_fresh_interpreter() -> None:
    script = ("import importlib, subprocess, sys\n"
              "failed = []\n"
              "for name in sys.argv[1:]:\n"
              "    done = subprocess.run([sys.executable, '-c', f'import {name}'], capture_output=True, text=True)\n"
              "    if done.returncode:\n"
              "        failed.append(f'{name}: {done.stderr.strip().splitlines()[-1]}')\n"
              "print('\\n'.join(failed))\n")
    done = subprocess.run([sys.executable, "-c", script, *CLI, *ENTRY_POINTS], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"modules that cannot be imported first:\n{done.stdout}"
