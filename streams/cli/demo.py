"""`isthmus demo`: the main job, the whole local stack with live sync (see streams/demo.py)."""

from __future__ import annotations

import argparse
from typing import Any

from streams.cli.commands import help_of
from streams.demo import SAMPLE_CUSTOMERS, DemoOptions, run_demo
from streams.stack.settings import StackSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help=help_of("demo"),
                                   description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
    parser.add_argument("--rate", type=float, default=2.0, help="simulated edits per second (default 2)")
    parser.add_argument("--customers", type=int, default=SAMPLE_CUSTOMERS,
                        help=f"sample customers loaded into an empty CRM (default {SAMPLE_CUSTOMERS})")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_demo(StackSettings.from_env(), DemoOptions(seconds=args.seconds, rate=args.rate,
                                                         customers=args.customers))
