"""The long-running commands' one logging setup: Isthmus's own lines at the level asked for, the Kafka and HTTP
clients' connection chatter only from WARNING (a worker log was mostly kafka-python's "IO loop starting" lines).
Run in a fresh interpreter: logging's configuration is process-wide."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

PROBE = """
import logging, sys
from streams.cli.logs import configure_logging
configure_logging(sys.argv[1])
logging.getLogger("kafka.net.manager").info("client info")
logging.getLogger("httpx").info("request info")
logging.getLogger("aiokafka.consumer").warning("client warning")
logging.getLogger("streams.worker.run").info("own info")
logging.getLogger("streams.worker.run").warning("own warning")
"""


def _logged(level: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, level], capture_output=True, text=True, check=True)
    return done.stderr.splitlines()


def test_own_info_is_logged_and_the_clients_info_is_not() -> None:
    lines = _logged("INFO")
    said = [line.split(": ", 1)[1] for line in lines]
    assert said == ["client warning", "own info", "own warning"]
    assert lines[1].split("] ", 1)[1] == "INFO streams.worker.run: own info"


def test_a_higher_level_applies_to_the_clients_too() -> None:
    assert [line.split(": ", 1)[1] for line in _logged("ERROR")] == []
    assert [line.split(": ", 1)[1] for line in _logged("WARNING")] == ["client warning", "own warning"]
