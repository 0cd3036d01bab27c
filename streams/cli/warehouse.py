"""`isthmus warehouse`: apply the warehouse schema, or load the canonical topics into it."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import threading
from typing import Any

from streams.cli.runtime import load_runtime
from streams.metrics.serving import serve_metrics
from streams.stack.running import RunningStack
from streams.stack.secrets import load_or_create
from streams.stack.settings import StackSettings
from streams.warehouse import ddl
from streams.warehouse.loader import Loader
from streams.warehouse.metrics import loader_registry
from streams.warehouse.settings import DOCS, METRICS_PORT_ENV, WarehouseSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("warehouse", help="the star-schema warehouse (PostgreSQL) with lineage")
    commands = parser.add_subparsers(dest="warehouse_command", required=True, metavar="COMMAND")
    environment = "Environment:\n" + "\n".join(f"  {name}: {doc}" for name, doc in DOCS.items())
    load = commands.add_parser(
        "load", help="load the canonical topics into the warehouse, exactly once (runs until stopped)",
        description="Consume the canonical records the flows publish (customers, orders, ERP orders and "
                    "lines, invoices, payments, products, stock), clean them and upsert them into the star "
                    "schema with their lineage; positions commit with the rows. " + environment,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    load.add_argument("--once", action="store_true", help="stop when the topics' current ends are loaded")
    load.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    load.set_defaults(run=run_load)
    apply = commands.add_parser("ddl", help="create or update the warehouse tables and views, then exit",
                                description=environment, formatter_class=argparse.RawDescriptionHelpFormatter)
    apply.set_defaults(run=run_ddl)


def _context() -> tuple[RunningStack, WarehouseSettings]:
    stack = StackSettings.from_env()
    settings = dataclasses.replace(WarehouseSettings.from_env(stack), bootstrap_servers=load_runtime().kafka)
    return RunningStack(stack, load_or_create(stack.home)), settings


def run_load(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    running, settings = _context()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    loader = Loader(running, settings, stop=stop)
    server = serve_metrics(loader_registry(loader), host=running.settings.host, port=settings.metrics_port,
                           setting=METRICS_PORT_ENV)
    logging.getLogger(__name__).info("warehouse loader: metrics on %s", server.url)
    try:
        loader.run(once=args.once)
    finally:
        server.close()
    logging.getLogger(__name__).info("warehouse loader stopped: %d rows loaded, %d rejected", loader.loaded,
                                     loader.rejected)
    return 0


def run_ddl(args: argparse.Namespace) -> int:
    running, settings = _context()
    with running.connect_crm(dbname=settings.database, autocommit=True) as conn:
        ddl.apply(conn, settings.schema)
    print(f"warehouse schema {settings.schema} in database {settings.database} is up to date")
    return 0
