"""`isthmus up`, `isthmus down`: the local stack (`isthmus status` reports it with the pipeline: cli/status.py)."""

from __future__ import annotations

import argparse
from typing import Any

from streams.stack.manager import StackManager
from streams.stack.offer import write_offer
from streams.stack.services import OPTIONAL_SERVICE_TYPES, SERVICE_TYPES
from streams.stack.settings import StackSettings

SERVICE_NAMES = [t.name for t in SERVICE_TYPES]
OPTIONAL_NAMES = [t.name for t in OPTIONAL_SERVICE_TYPES]


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="start the local stack (idempotent)",
                               description="Start the local stack: " + ", ".join(SERVICE_NAMES) + ". "
                               "Services already running are left alone. Optional services start only when named: "
                               + ", ".join(OPTIONAL_NAMES) + ".")
    up.add_argument("services", nargs="*", metavar="SERVICE", help="only these (and what they need)")
    up.set_defaults(run=run_up)

    down = subparsers.add_parser("down", help="stop the local stack")
    down.add_argument("services", nargs="*", metavar="SERVICE", help="only these")
    down.set_defaults(run=run_down)


def run_up(args: argparse.Namespace) -> int:
    manager = StackManager(StackSettings.from_env())
    manager.up(args.services or None)
    offered = write_offer(manager.settings)
    manager.progress.say(f"stack is up; `isthmus status` shows it, `isthmus down` stops it; its runtime settings "
                         f"(Kafka, Connect) are in {offered}")
    return 0


def run_down(args: argparse.Namespace) -> int:
    StackManager(StackSettings.from_env()).down(args.services or None)
    return 0

