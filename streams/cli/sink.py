"""`isthmus sink --target crm|erp`: one sink worker, applying its system's commands through the target's API.

Settings come from the environment (``isthmus sink --settings`` lists them with their values); the target's
routes from ``targets/<system>.yaml``. SIGTERM stops it gracefully: in-flight calls get
ISTHMUS_SINK_STOP_GRACE_S to finish and what is not finished is left uncommitted, to be applied after a
restart.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from streams.cli.commands import help_of


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sink", help=help_of("sink"),
        description="Consume isthmus.commands.<target> and apply each command through the target's API "
                    "(targets/<target>.yaml), effectively once; results go to isthmus.results.<target>, refused "
                    "commands to isthmus.dlq.")
    parser.add_argument("--target", metavar="SYSTEM",
                        help="the writable system (systems/<name>.yaml) to write to (required but with --settings)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="DEBUG logs a line per applied command; INFO a periodic summary (default)")
    parser.add_argument("--check", action="store_true",
                        help="load and check the target file and settings, print the plan, and exit")
    parser.add_argument("--settings", action="store_true", help="list the sink settings and exit")
    parser.set_defaults(run=run_sink)


async def _log_in(adapter: Any) -> bool:
    """Log in as the sink's start would, where the credentials are obtained by a call (a refusal raises
    ``LoginRefused``, reported as an error); then close the adapter."""
    from streams.sinks.adapters.base import LogsIn

    try:
        return await adapter.log_in() if isinstance(adapter, LogsIn) else False
    finally:
        await adapter.close()


def run_sink(args: argparse.Namespace) -> int:
    # imported here, not above: `isthmus sink --help` builds its parser without them (streams/cli/commands.py)
    from streams.cli.allocator import fix_mmap_threshold
    from streams.cli.logs import configure_logging
    from streams.cli.runtime import load_runtime
    from streams.kafka.retries import explain_marker_retries
    from streams.sinks.runner import SinkEnvironment, build_worker, run_until_signalled
    from streams.sinks.settings import SinkSettings

    fix_mmap_threshold()  # before the first large buffer (streams/cli/allocator.py)
    level = getattr(logging, args.log_level)
    configure_logging(max(level, logging.INFO))
    logging.getLogger("isthmus").setLevel(level)
    explain_marker_retries()  # Kafka 4's NOT_ENOUGH_REPLICAS between transactions: once, at INFO
    runtime = load_runtime(args)
    environment = SinkEnvironment.from_runtime(runtime)
    if args.settings:
        for name, info in SinkSettings.model_fields.items():
            print(f"{SinkSettings.env_name(name)}={runtime.sink.shown(name)}\n    {info.description}")
        return 0
    if args.target is None:
        print(f"isthmus sink: give --target <system>, one of {', '.join(environment.systems.writable)}",
              file=sys.stderr)
        return 2
    worker = build_worker(args.target, environment)  # an unknown or read-only system: TargetConfigError
    if args.check:
        config = worker.config
        print(f"{config.path}: {config.adapter} target {config.system}; {worker.adapter.describe()}")
        for (payload_type, operation), route in config.routes.items():
            rule = config.gone_rule(payload_type, operation)
            gone = f"; gone: {rule.shown()}" if rule is not None else ""
            print(f"  {payload_type.rpartition('.')[2]:<22} {operation:<10} -> {route.plan()}{gone}")
        for warning in config.warnings:
            print(f"warning: {warning}")
        r = worker.resolved
        print(f"consumes {r.command_topic} (group {r.group_id}); results to {r.results_topic}; dead letters to "
              f"{r.dlq_topic}")
        if asyncio.run(_log_in(worker.adapter)):
            print("logged in: the target accepted the credentials")
        return 0
    asyncio.run(run_until_signalled(worker, metrics_host=environment.sink.metrics_host or "127.0.0.1"))
    return 0
