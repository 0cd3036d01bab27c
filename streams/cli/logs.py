"""The one logging setup of the long-running commands (worker, sink, warehouse, dashboard).

Their logs are read by operators: the Kafka and HTTP clients' own INFO lines (a connection opened or closed, a
bootstrap, every request) would bury the lines that say what Isthmus did, so those clients log from WARNING."""

from __future__ import annotations

import logging
import sys

#: The log line: time, level, logger, message.
FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"

#: The client libraries' loggers, quiet below WARNING (kafka-python logs each connection and bootstrap at INFO,
#: httpx each request).
CLIENT_LOGGERS = ("kafka", "aiokafka", "httpx", "httpcore")


def configure_logging(level: int | str) -> None:
    """Log to stderr from ``level`` on, the client libraries from WARNING on (or ``level`` when higher)."""
    logging.basicConfig(level=level, stream=sys.stderr, format=FORMAT)
    root = logging.getLogger()
    root.setLevel(level)  # also when the root logger had a handler already (basicConfig then does nothing)
    floor = max(root.level, logging.WARNING)
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(floor)
