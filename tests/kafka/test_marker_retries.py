"""Kafka 4 answers a produce that meets the last transaction's markers still being written with
NOT_ENOUGH_REPLICAS for aiokafka's produce version (KAFKA-15459): a healthy single broker made workers log hundreds
of retry WARNINGs. The first is logged once, at INFO, with the explanation; the rest are left out; every other
producer warning passes as it is."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import NotEnoughReplicasError, NotLeaderForPartitionError
from aiokafka.structs import TopicPartition

from streams.config.kafka import KafkaSettings
from streams.kafka.retries import MarkerRetries, explain_marker_retries

pytestmark = pytest.mark.unit

#: aiokafka's own call (aiokafka/producer/sender.py), word for word.
RETRY = "Got error produce response on topic-partition %s, retrying. Error: %s"


def _logger(name: str) -> logging.Logger:
    logger = logging.getLogger(f"tests.marker_retries.{name}")
    logger.filters.clear()
    return logger


def test_the_first_retry_is_explained_at_info_and_the_rest_left_out(caplog: pytest.LogCaptureFixture) -> None:
    logger = _logger("first")
    retries = explain_marker_retries(logger)
    assert explain_marker_retries(logger) is retries and len(logger.filters) == 1  # installed once
    with caplog.at_level(logging.INFO, logger=logger.name):
        for partition in range(3):
            logger.warning(RETRY, TopicPartition("isthmus-customers-tx-crm-changelog", partition),
                           NotEnoughReplicasError)
        logger.warning(RETRY, TopicPartition("isthmus.commands.erp", 0), NotLeaderForPartitionError)
    (explained, other) = caplog.records
    assert explained.levelno == logging.INFO
    message = explained.getMessage()
    assert "isthmus-customers-tx-crm-changelog" in message and "KAFKA-15459" in message
    assert "not a lack of replicas" in message and "min.insync.replicas" in message
    assert other.levelno == logging.WARNING and "NotLeaderForPartitionError" in other.getMessage()
    assert retries.dropped == 2


def test_each_filter_explains_once() -> None:
    record = logging.LogRecord("aiokafka.producer.sender", logging.WARNING, __file__, 1, RETRY,
                               (TopicPartition("t", 0), NotEnoughReplicasError), None)
    retries = MarkerRetries()
    assert retries.filter(record) and record.levelname == "INFO"
    assert not retries.filter(logging.LogRecord("aiokafka.producer.sender", logging.WARNING, __file__, 1, RETRY,
                                                (TopicPartition("t", 0), NotEnoughReplicasError), None))


def test_min_insync_replicas_above_the_replication_factor_is_refused() -> None:
    """Then every write would really lack replicas: refused when the settings load, with the fix."""
    with pytest.raises(ValueError, match="min_insync_replicas 2 is above replication_factor 1") as raised:
        KafkaSettings.model_validate({"bootstrap_servers": "b:1", "min_insync_replicas": 2})
    assert "set min_insync_replicas to at most the replication factor" in str(raised.value)
    assert KafkaSettings.model_validate({"bootstrap_servers": "b:1", "replication_factor": 2,
                                         "min_insync_replicas": 2}).topic_config() == {"min.insync.replicas": "2"}


def test_the_retries_left_out_are_counted_once_every_summary_interval() -> None:
    """A real lack of in-sync replicas keeps the retries coming: one line every SUMMARY_EVERY_S says how many."""
    from streams.kafka.retries import SUMMARY_EVERY_S

    now = [0.0]
    retries = MarkerRetries(clock=lambda: now[0])

    def retry() -> logging.LogRecord:
        return logging.LogRecord("aiokafka.producer.sender", logging.WARNING, __file__, 1, RETRY,
                                 (TopicPartition("t", 0), NotEnoughReplicasError), None)

    assert retries.filter(retry())  # the explanation
    shown = []
    for _ in range(5):
        now[0] += SUMMARY_EVERY_S / 4
        record = retry()
        if retries.filter(record):
            shown.append(record)
    (summary,) = shown
    assert summary.levelno == logging.INFO and summary.getMessage().startswith("4 more produce retries")
    assert retries.dropped == 5
