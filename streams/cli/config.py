"""``isthmus config show``: the effective runtime settings and where each came from (env/file/stack/default)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from streams.cli.commands import help_of


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help=help_of("config"))
    commands = parser.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    show = commands.add_parser("show", help="print the effective settings and where each came from; secrets ***")
    show.add_argument("--json", action="store_true", help="one JSON object per setting")
    show.set_defaults(run=run_show)


def run_show(args: argparse.Namespace) -> int:
    # imported here, not above: `isthmus config --help` builds its parser without them (streams/cli/commands.py)
    from streams.cli.runtime import load_runtime
    from streams.config.show import effective, render

    settings = load_runtime(args)
    rows = effective(settings)
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return 0
    if settings.config_file is not None:
        print(f"config file: {settings.config_file}")
    print("\n".join(render(rows)))
    return 0
