"""`isthmus --version` and `isthmus --help` answer from the table of commands, importing no command's module (all of
them took 1.6 CPU-seconds), and say what they said when every module was imported."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from streams import __version__
from streams.cli.commands import COMMANDS
from streams.cli.main import build_parser, main, version_text

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.unit


def _every_module_registered() -> argparse.ArgumentParser:
    """The parser as the CLI built it before: every command module imported and registered, in the table's order."""
    parser = build_parser("up")
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands.choices.clear()
    commands._choices_actions.clear()
    for module in dict.fromkeys(c.module for c in COMMANDS.values()):
        importlib.import_module(module).register(commands)
    return parser


def test_the_help_lists_every_command_as_its_module_registers_it() -> None:
    assert build_parser().format_help() == _every_module_registered().format_help()
    for command in COMMANDS:  # a command's own parser beside the others' lines: the same page
        assert build_parser(command).format_help() == _every_module_registered().format_help()


def test_version_and_help_import_no_command_module() -> None:
    script = ("import contextlib, io, sys\n"
              "from streams.cli.main import main\n"
              "for argv in (['--version'], ['--help'], []):\n"
              "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()), "
              "contextlib.redirect_stderr(io.StringIO()):\n"
              "        main(argv)\n"
              "print(' '.join(sorted(m for m in sys.modules if m.startswith('streams.cli.'))))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          check=True)
    assert done.stdout.split() == ["streams.cli.commands", "streams.cli.main"]


#: Commands whose module imports at its top only what its parser needs (the rest when the command runs), so that
#: their --help costs a few hundredths of a CPU-second; the others' --help still imports their runtime (pydantic,
#: kafka-python, aiokafka: about a CPU-second).
QUICK_HELP = (["sink", "--help"], ["config", "--help"], ["config", "show", "--help"])
HEAVY = ("pydantic", "kafka", "aiokafka", "fastavro", "yaml")


@pytest.mark.parametrize("argv", QUICK_HELP, ids=" ".join)
def test_a_quick_commands_help_imports_none_of_what_it_runs(argv: list[str]) -> None:
    script = ("import contextlib, io, sys\n"
              "from streams.cli.main import main\n"
              "out = io.StringIO()\n"
              "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(out):\n"
              "    main(sys.argv[1:])\n"
              f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
              "print(heavy, 'usage: isthmus' in out.getvalue())\n")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          check=True)
    assert done.stdout.strip() == "[] True"


def test_version_is_printed() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and out.getvalue() == f"{version_text()}\n"


def test_the_version_of_a_checkout_names_its_commit() -> None:
    """In a git checkout (every test run is one) the version names the commit, so an upgrade by `git checkout`
    shows which code runs."""
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert version_text().startswith(f"isthmus {__version__} ({head}")
