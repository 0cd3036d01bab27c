"""kafka-python logs ``ERROR kafka.cluster: Metadata refresh: failed Cancelled`` when a client is closed while the
metadata refresh ``assign()`` asked for is in flight (a sink's start read the written schemas and closed, and an
operator read ERROR as broken). Every ``isthmus`` command lowers exactly that record to DEBUG; a refresh that fails
for a reason of the broker's still logs its ERROR."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from kafka.cluster import ClusterMetadata
from kafka.errors import Cancelled, KafkaConnectionError

from streams.cli import topics
from streams.cli.main import main

pytestmark = pytest.mark.unit


class _Manager:
    """The connection manager of a client whose metadata request ends with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def reset_backoff(self, what: str) -> None:
        pass

    async def send(self, request: Any, node_id: int) -> Any:
        raise self.error


def _refresh(error: Exception) -> None:
    """kafka-python's own refresh (kafka/cluster.py), its request answered with ``error``."""
    cluster = ClusterMetadata(bootstrap_servers="127.0.0.1:9092")
    cluster._manager = _Manager(error)  # as attach() sets it, without a network loop
    with pytest.raises(type(error)):
        asyncio.run(cluster._do_refresh_metadata(1))


@pytest.fixture
def cluster_logger(monkeypatch: pytest.MonkeyPatch) -> logging.Logger:
    logger = logging.getLogger("kafka.cluster")
    monkeypatch.setattr(logger, "filters", [])
    monkeypatch.setattr(topics, "run_list", lambda args: 0)
    assert main(["topics", "dlq", "list"]) == 0  # any command installs the filter
    return logger


def test_a_refresh_cancelled_by_the_clients_close_logs_no_error(cluster_logger: logging.Logger,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        _refresh(Cancelled())
    assert [r for r in caplog.records if r.name == "kafka.cluster"] == []


def test_a_refresh_the_broker_failed_still_logs_its_error(cluster_logger: logging.Logger,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        _refresh(KafkaConnectionError("connection reset"))
    (record,) = [r for r in caplog.records if r.name == "kafka.cluster"]
    assert record.levelno == logging.ERROR and "connection reset" in record.getMessage()


def test_debug_logging_keeps_the_cancelled_refresh(cluster_logger: logging.Logger,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="kafka.cluster"):
        _refresh(Cancelled())
    cancelled = [r for r in caplog.records if "Metadata refresh: failed" in r.getMessage()]
    assert [r.levelno for r in cancelled] == [logging.DEBUG]
