"""`isthmus up`, `isthmus down`, `isthmus status`: the local stack."""

from __future__ import annotations

import argparse
import json
from typing import Any

from streams.cli import environment
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

    status = subparsers.add_parser("status", help="show each service's state")
    status.add_argument("--json", action="store_true", help="one JSON document")
    status.add_argument("--settings", action="store_true", help="also list every ISTHMUS_* variable and its value")
    status.set_defaults(run=run_status)


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


def run_status(args: argparse.Namespace) -> int:
    settings = StackSettings.from_env()
    statuses = StackManager(settings).status()
    healthy = all(s.state == "running" for s in statuses)
    if args.json:
        document: dict[str, object] = {"healthy": healthy, "home": str(settings.home),
                                       "services": [s.as_dict() for s in statuses]}
        if args.settings:
            document["settings"] = {v.env: v.value for v in environment.variables(settings)}
        print(json.dumps(document, indent=2))
    else:
        width = max(len(s.name) for s in statuses)
        for s in statuses:
            pid = str(s.pid) if s.pid else "-"
            print(f"{s.name:<{width}}  {s.state:<9}  pid {pid:<7}  {s.address}")
        if args.settings:
            print()
            print("\n".join(environment.render(environment.variables(settings))))
    return 0 if healthy else 1
