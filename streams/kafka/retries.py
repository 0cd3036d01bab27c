"""aiokafka's warning of each produce retry on NOT_ENOUGH_REPLICAS, which on Kafka 4 is not about replicas.

A transactional producer's next transaction may reach a partition while the broker still writes the last one's
commit markers there. Kafka 4 answers that with CONCURRENT_TRANSACTIONS, converted to NOT_ENOUGH_REPLICAS for the
older produce request versions aiokafka sends (KAFKA-15459, KIP-890; aiokafka #1172); the producer retries after
its backoff (20 ms in the flows' engine) and the batch goes through. aiokafka logs a WARNING for every such
retry: hundreds an hour on a healthy single broker whose topics have ``min.insync.replicas`` 1 (the stack's,
``streams/stack/services/kafka.py``, and Isthmus creates its topics with none unless ``kafka.min_insync_replicas``
says so). So :class:`MarkerRetries` logs the first at INFO with this explanation, then at most one line every
:data:`SUMMARY_EVERY_S` counting the retries since (a real lack of in-sync replicas on a cluster keeps them coming,
and the count says so); every other warning of the producer passes as it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from streams.kafka.log_filters import install_once

#: The logger of aiokafka's producer sender, which warns of each retry.
SENDER_LOGGER = "aiokafka.producer.sender"
_RETRY = "Got error produce response on topic-partition"
_ERROR = "NotEnoughReplicasError"

EXPLANATION = ("a produce to %s was answered NOT_ENOUGH_REPLICAS and is retried: on Kafka 4 this is how the broker "
               "tells aiokafka's produce version that the partition's last transaction markers are still being "
               "written (KAFKA-15459), not a lack of replicas; the batch goes through after a short backoff. Further "
               "such retries are not logged. Only if the flows stop committing, check the topics' in-sync replicas "
               "against min.insync.replicas (kafka.min_insync_replicas)")
SUMMARY = ("%d more produce retries on NOT_ENOUGH_REPLICAS in the last %.0f s (the first is explained above); many "
           "that go on while the flows stop committing mean a real lack of in-sync replicas: check the topics' "
           "in-sync replicas against min.insync.replicas (kafka.min_insync_replicas)")
#: Seconds between two summary lines of the retries left out.
SUMMARY_EVERY_S = 600.0


class MarkerRetries(logging.Filter):
    """Turns aiokafka's first NOT_ENOUGH_REPLICAS retry warning into one INFO line that explains it (see the
    module); of the later ones, one every :data:`SUMMARY_EVERY_S` becomes an INFO line counting those left out
    since; counts them all in :attr:`dropped`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.explained = False
        self.dropped = 0
        self._clock = clock
        self._since = 0.0
        self._unsaid = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_marker_retry(record):
            return True
        now = self._clock()
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        if not self.explained:
            self.explained, self._since = True, now
            partition = record.args[0] if isinstance(record.args, tuple) and record.args else "a partition"
            record.msg, record.args = EXPLANATION, (partition,)
            return True
        self.dropped += 1
        self._unsaid += 1
        if now - self._since < SUMMARY_EVERY_S:
            return False
        record.msg, record.args = SUMMARY, (self._unsaid, now - self._since)
        self._since, self._unsaid = now, 0
        return True


def _is_marker_retry(record: logging.LogRecord) -> bool:
    if record.levelno != logging.WARNING or not str(record.msg).startswith(_RETRY):
        return False
    args = record.args if isinstance(record.args, tuple) else ()
    return any(_ERROR in getattr(arg, "__name__", str(arg)) for arg in args[1:])


def explain_marker_retries(logger: logging.Logger | None = None) -> MarkerRetries:
    """Install :class:`MarkerRetries` on aiokafka's sender logger (or ``logger``), once: the filter installed."""
    return install_once(logger or logging.getLogger(SENDER_LOGGER), MarkerRetries)


__all__ = ["EXPLANATION", "SENDER_LOGGER", "MarkerRetries", "explain_marker_retries"]
