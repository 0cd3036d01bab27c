"""`isthmus worker`: run the flows (see streams/worker/settings.py for its environment)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from streams.cli.allocator import fix_mmap_threshold
from streams.cli.commands import help_of
from streams.cli.logs import configure_logging
from streams.cli.runtime import load_runtime
from streams.kafka.retries import explain_marker_retries
from streams.worker.run import run_worker
from streams.worker.settings import WorkerSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker", help=help_of("worker"),
        description="Run the Isthmus flows on the exactly-once engine. Environment:\n" +
        "\n".join(f"  {WorkerSettings.env_name(name)}: {info.description}"
                  for name, info in WorkerSettings.model_fields.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flow", action="append", default=[], help="run only this flow (repeatable)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    fix_mmap_threshold()  # before the first large buffer (streams/cli/allocator.py)
    configure_logging(args.log_level)
    explain_marker_retries()  # Kafka 4's NOT_ENOUGH_REPLICAS between transactions: once, at INFO
    runtime = load_runtime(args)
    worker = runtime.worker
    if args.flow:
        worker = worker.model_copy(update={"flows": frozenset(args.flow)})
    return asyncio.run(run_worker(runtime, worker))
