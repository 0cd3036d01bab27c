"""Entry point of the `isthmus` command: wires the command groups and turns Isthmus errors into exit code 2."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from streams import __version__
from streams.cli.commands import COMMANDS
from streams.errors import IsthmusError
from streams.kafka.cancelled import quiet_cancelled_refreshes
from streams.kafka.reachability import watch_connections

#: The module of each command, so that running one imports only its own module (the worker's, sinks' and
#: dashboard's imports took a second of every `isthmus topics trace`).
COMMAND_MODULE: dict[str, str] = {name: command.module for name, command in COMMANDS.items()}


def version_text() -> str:
    """``isthmus <version>``, with the commit when this runs from a git checkout (``git describe --always
    --dirty``): the package version alone does not tell two checkouts apart, and a user upgrading by ``git
    checkout`` needs to see which code runs."""
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            done = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
                                  capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip():
            return f"isthmus {__version__} ({done.stdout.strip()})"
    return f"isthmus {__version__}"


class _Version(argparse.Action):
    """``--version``: :func:`version_text`, worked out only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` (registered by its module) beside every other command's line of help, from
    :data:`~streams.cli.commands.COMMANDS` alone: `isthmus --version`, `isthmus --help`, a mistyped or missing
    command import no command's module."""
    parser = argparse.ArgumentParser(
        prog="isthmus",
        description="Change-data-capture bridge between a CRM and an ERP.",
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show the version (and the checkout's commit) and exit")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="runtime settings file (YAML: kafka:, connect:, dirs:); also ISTHMUS_CONFIG. "
                             "The environment overrides it; see `isthmus config show`")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = COMMANDS[command].module if command in COMMANDS else None
    for name, entry in COMMANDS.items():
        if entry.module == chosen:
            importlib.import_module(entry.module).register(subparsers)  # its commands, in their place
            chosen = None
        elif name not in subparsers.choices:
            subparsers.add_parser(name, help=entry.help)
    return parser


def command_of(given: Sequence[str]) -> str | None:
    """The command word of an argument list: the first one that is neither an option nor ``--config``'s value."""
    skip = False
    for arg in given:
        if skip:
            skip = False
        elif arg == "--config":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _warn_unknown_variables(args: argparse.Namespace) -> None:
    """Warn once of each ``ISTHMUS_*`` variable no setting reads (a typo would otherwise be silently ignored); the
    listing is imported only when such a variable is set at all."""
    if not any(name.upper().startswith("ISTHMUS_") for name in os.environ):
        return
    from streams.cli.environment import warn_unknown_variables
    from streams.cli.runtime import config_targets_dir

    for line in warn_unknown_variables(os.environ, config_targets_dir(args)):
        print(line, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(command_of(given)).parse_args(given)
    quiet_cancelled_refreshes()  # kafka-python's ERROR for a refresh its own close() cancelled: DEBUG
    watch_connections()  # aiokafka's ERROR for each failed connection: a few lines saying Kafka is unreachable
    try:
        _warn_unknown_variables(args)
        code: int = args.run(args)
    except IsthmusError as exc:
        print(f"isthmus: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("isthmus: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
