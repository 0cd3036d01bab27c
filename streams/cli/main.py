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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isthmus",
        description="Change-data-capture bridge between a CRM and an ERP.",
    )
    parser.add_argument("--version", action="version", version=f"isthmus {__version__}")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="runtime settings file (YAML: kafka:, connect:, dirs:); also ISTHMUS_CONFIG. "
                             "The environment overrides it; see `isthmus config show`")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
