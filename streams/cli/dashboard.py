"""``isthmus dashboard``: the live dashboard on 127.0.0.1 (ISTHMUS_DASHBOARD_PORT, default 18088)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from streams.cli.commands import help_of
from streams.cli.logs import configure_logging
from streams.cli.runtime import load_runtime, stack_home
from streams.dashboard.app import DashboardConfig, serve
from streams.dashboard.settings import DEFAULT_PORT, PORT_ENV
from streams.inspect.roles import TOKENS_ENV, AccessPolicy


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard", help=help_of("dashboard"),
        description=f"Serves the dashboard on 127.0.0.1 (port from {PORT_ENV}, default {DEFAULT_PORT}) until "
                    f"interrupted. Roles come from {TOKENS_ENV} or <home>/secrets/tokens.")
    parser.add_argument("--port", type=int, default=None, help=f"port (default ${PORT_ENV} or {DEFAULT_PORT})")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(logging.INFO)
    policy = AccessPolicy.from_env(stack_home())
    runtime = load_runtime(args)
    config = DashboardConfig(bootstrap=runtime.kafka, connect_url=runtime.connect.urls[0], policy=policy,
                             connect_http=runtime.connect.http_options())
    port = args.port if args.port is not None else runtime.dashboard.port
    if not policy.tokens:
        print(f"isthmus: no tokens configured ({TOKENS_ENV} or <home>/secrets/tokens): the local user is admin",
              flush=True)

    def started(url: str) -> None:
        print(f"isthmus: dashboard at {url}", flush=True)

    asyncio.run(serve(config, port=port, started=started))
    return 0
