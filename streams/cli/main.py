"""Entry point of the `isthmus` command: wires the command groups and turns Isthmus errors into exit code 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from streams import __version__
from streams.errors import IsthmusError

#: Each module defines ``register(subparsers)``, which adds its parsers and sets ``run`` on them.
COMMAND_MODULES: tuple[str, ...] = (
    "streams.cli.stack_commands",
    "streams.cli.connectors",
    "streams.cli.sink",
    "streams.cli.topics",
    "streams.cli.worker",
    "streams.cli.demo",
    "streams.cli.warehouse",
    "streams.cli.dashboard",
    "streams.cli.mappings",
    "streams.cli.config",
)


#: The module of each command, so that running one imports only its own module (the worker's, sinks' and
#: dashboard's imports took a second of every `isthmus topics trace`); a command not listed here loads them all.
COMMAND_MODULE: dict[str, str] = {
    "up": "streams.cli.stack_commands", "down": "streams.cli.stack_commands",
    "status": "streams.cli.stack_commands", "connectors": "streams.cli.connectors", "sink": "streams.cli.sink",
    "topics": "streams.cli.topics", "worker": "streams.cli.worker", "demo": "streams.cli.demo",
    "warehouse": "streams.cli.warehouse", "dashboard": "streams.cli.dashboard", "mappings": "streams.cli.mappings",
    "config": "streams.cli.config",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser, or only ``command``'s when its module is known."""
    parser = argparse.ArgumentParser(
        prog="isthmus",
        description="Change-data-capture bridge between a CRM and an ERP.",
    )
    parser.add_argument("--version", action="version", version=f"isthmus {__version__}")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="runtime settings file (YAML: kafka:, connect:, dirs:); also ISTHMUS_CONFIG. "
                             "The environment overrides it; see `isthmus config show`")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    only = COMMAND_MODULE.get(command or "")
    for name in COMMAND_MODULES:
        if only is None or name == only:
            importlib.import_module(name).register(subparsers)
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


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(command_of(given)).parse_args(given)
    try:
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
