"""`isthmus warehouse`: apply the warehouse schema, or load the canonical topics into it."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from streams.cli.commands import help_of
from streams.cli.logs import configure_logging
from streams.cli.runtime import load_runtime
from streams.config.model import RuntimeSettings
from streams.metrics.serving import serve_metrics
from streams.warehouse import ddl
from streams.warehouse.loader import Loader, connect_warehouse
from streams.warehouse.metrics import loader_registry
from streams.warehouse.settings import WarehouseSettings
from streams.worker.settings import WorkerSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("warehouse", help=help_of("warehouse"))
    commands = parser.add_subparsers(dest="warehouse_command", required=True, metavar="COMMAND")
    environment = "Environment:\n" + "\n".join(f"  {WarehouseSettings.env_name(name)}: {info.description}"
                                                for name, info in WarehouseSettings.model_fields.items())
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


def _worker_id(runtime: RuntimeSettings) -> str:
    """``ISTHMUS_WORKER_ID`` names the loader when it is set; else the loader is ``isthmus-warehouse``."""
    given = runtime.origins[(WorkerSettings.NAME, "worker_id")] != "default"
    return runtime.worker.worker_id if given else "isthmus-warehouse"


def run_load(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    runtime = load_runtime(args)
    settings = runtime.warehouse
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    loader = Loader(settings, runtime.kafka, stop=stop, worker_id=_worker_id(runtime))
    server = serve_metrics(loader_registry(loader), host=runtime.worker.host, port=settings.metrics_port,
                           setting=WarehouseSettings.env_name("metrics_port"))
    logging.getLogger(__name__).info("warehouse loader: metrics on %s", server.url)
    try:
        loader.run(once=args.once)
    finally:
        server.close()
    logging.getLogger(__name__).info("warehouse loader stopped: %d rows loaded, %d rejected", loader.loaded,
                                     loader.rejected)
    return 0


def run_ddl(args: argparse.Namespace) -> int:
    settings = load_runtime(args).warehouse
    with connect_warehouse(settings) as conn:
        ddl.apply(conn, settings.schema_name)
    print(f"warehouse schema {settings.schema_name} in database {settings.database} is up to date")
    return 0
