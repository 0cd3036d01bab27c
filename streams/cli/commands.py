"""Every `isthmus` command: the module that registers its parser, and its line in `isthmus --help`.

Nothing here imports a command's module: `isthmus --version` and `isthmus --help` answer from this table alone
(importing every command module took about 1.5 CPU-seconds), and a command's module registers its parser with
the help line it finds here (:func:`help_of`), so the two never differ.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """``module`` defines ``register(subparsers)``, which adds the command's parser (and any other command the
    module holds) and sets ``run`` on it; ``help`` is the command's line in `isthmus --help`."""

    module: str
    help: str


#: In the order `isthmus --help` lists them.
COMMANDS: dict[str, Command] = {
    "up": Command("streams.cli.stack_commands", "start the local stack (idempotent)"),
    "down": Command("streams.cli.stack_commands", "stop the local stack"),
    "status": Command("streams.cli.stack_commands",
                      "is the pipeline healthy, and if not, where (stack, connectors, flows, sinks, lag, holds)"),
    "connectors": Command("streams.cli.connectors", "validate, deploy and operate the Debezium connectors"),
    "sink": Command("streams.cli.sink", "run a sink worker for one target system"),
    "topics": Command("streams.cli.topics", "inspect Isthmus topics: list, describe, lag, hanging, tail, trace, dlq"),
    "worker": Command("streams.cli.worker", "run the flows exactly once (start several for a fleet)"),
    "demo": Command("streams.cli.demo", "run the whole local stack with the reference CRM and ERP, live"),
    "warehouse": Command("streams.cli.warehouse", "the star-schema warehouse (PostgreSQL) with lineage"),
    "dashboard": Command("streams.cli.dashboard",
                         "serve the live dashboard (connectors, flows, lag, dead letters, conflicts, customer 360)"),
    "mappings": Command("streams.cli.mappings", "discover the systems' column types, and validate the mapping files"),
    "config": Command("streams.cli.config", "the runtime settings (Kafka, Connect, folders)"),
}


def help_of(command: str) -> str:
    """``command``'s line in `isthmus --help`."""
    return COMMANDS[command].help


__all__ = ["COMMANDS", "Command", "help_of"]
