"""Hanging transactions: found and aborted with Kafka's own tool (``kafka-transactions.sh``).

A transaction *hangs* when a partition holds records of it that no commit or abort marker will ever close: its
coordinator considers it finished (or never saw the partition), so nothing times it out. Every read_committed
reader of that partition stops at its first record (the last stable offset never moves again). Kafka 4.3 left
such transactions behind when a broker was stopped while Kafka Connect's exactly-once source tasks were
committing: the Connect worker then never restarts its tasks (it reads its offsets topic read_committed
before starting one), the capture stalls for good, and the flows stop at the same place on the CDC topics.

:func:`find_hanging` asks the broker which open transactions are older than ``older_than_min`` minutes and
unknown to their coordinator (the tool's ``find-hanging``); :func:`abort` writes the abort marker that closes
one (``abort``). Aborting only discards records of a transaction that will never commit; a producer still
alive is not touched. Both run the tool from Kafka's jars (``kafka-tools``, the folder ``kafka.tools_dir``
names; the local stack offers its own) in a small JVM, logged in as every other client of the runtime: the Kafka
settings (SASL, TLS) as its ``--command-config``, a temporary file of its owner's removed once the tool is done.
``find-hanging`` asks one broker at a time, so every broker of the cluster is asked.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from streams.config.kafka import KafkaAddress, KafkaSettings, client_kwargs, java_client_config, kafka_settings
from streams.errors import IsthmusError
from streams.inspect.admin import broker_ids

TOOL_CLASS = "org.apache.kafka.tools.TransactionsCommand"
_TIMEOUT_S = 120.0
#: Minutes a transaction unknown to its coordinator must have been open to count as hanging: above every
#: producer's transaction timeout (60 s for Connect's and the engine's), so a live one is never taken.
HANGING_AFTER_MIN = 2
_COLUMNS = ("Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset")


class HangingTransactionToolError(IsthmusError):
    """Kafka's transactions tool could not be run, failed, or printed what it never prints."""


@dataclass(frozen=True, kw_only=True)
class HangingTransaction:
    topic: str
    partition: int
    producer_id: int
    producer_epoch: int
    start_offset: int
    minutes: int

    def describe(self) -> str:
        return (f"{self.topic}[{self.partition}] from offset {self.start_offset}: producer {self.producer_id} "
                f"epoch {self.producer_epoch}, open {self.minutes} min")


@dataclass(frozen=True, kw_only=True)
class TransactionsTool:
    """The ``TransactionsCommand`` of Kafka's jars, pointed at the cluster with the runtime's Kafka settings."""

    #: The cluster and how to log in to it (a bare ``host:port`` list: over PLAINTEXT).
    kafka: KafkaAddress
    kafka_jars: Path
    java: str = "java"

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(kafka_settings(self.kafka).bootstrap_servers)

    @classmethod
    def for_kafka(cls, kafka: KafkaSettings) -> TransactionsTool:
        """The tool of ``kafka.tools_dir`` against ``kafka``'s brokers."""
        if kafka.tools_dir is None:
            raise HangingTransactionToolError(
                f"no folder of Kafka's jars to run kafka-transactions from; fix: set "
                f"{KafkaSettings.env_name('tools_dir')} (or kafka.tools_dir in the --config file) to a folder "
                "holding kafka-tools-<version>.jar and its dependencies (the local stack offers its own)")
        return cls(kafka=kafka, kafka_jars=kafka.tools_dir)

    def brokers(self) -> list[int]:
        """The id of every broker of the cluster (``find-hanging`` asks one at a time)."""
        return broker_ids(self.kafka)

    def run(self, *args: str) -> str:
        if not any(self.kafka_jars.glob("kafka-tools-[0-9]*.jar")):
            raise HangingTransactionToolError(
                f"no kafka-tools jar in {self.kafka_jars}; fix: point {KafkaSettings.env_name('tools_dir')} at "
                "Kafka's jars, or, on the local stack, run `isthmus up` once so that its jars are resolved again "
                "(stack/maven/kafka/pom.xml names it)")
        java = shutil.which(self.java) or self.java
        settings = kafka_settings(self.kafka)
        # the client properties hold the SASL password and the TLS key: a file of the owner's, gone afterwards
        with java_client_config(settings) as config:
            argv = [java, "-Xmx128m", "-cp", f"{self.kafka_jars}/*", TOOL_CLASS,
                    "--bootstrap-server", self.bootstrap_servers, "--command-config", str(config), *args]
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise HangingTransactionToolError(f"kafka-transactions {args[0]} could not be run: {exc}") from exc
        if done.returncode != 0:
            detail = _tool_lines(done.stderr)[-3:] or _tool_lines(done.stdout)[-3:]
            raise HangingTransactionToolError(
                f"kafka-transactions {args[0]} failed (exit {done.returncode}) against {settings}: "
                + " | ".join(detail))
        return done.stdout


def _tool_lines(text: str) -> list[str]:
    """The tool's own lines, without the logging framework's start-up chatter."""
    return [line for line in text.splitlines()
            if line.strip() and not line.startswith(("SLF4J", "log4j", "WARNING:")) and "StatusLogger" not in line]


def parse_find_hanging(text: str) -> list[HangingTransaction]:
    """The rows of ``find-hanging``'s table (tab-separated, one header line)."""
    lines = _tool_lines(text)
    header = next((i for i, line in enumerate(lines) if line.split()[:len(_COLUMNS)] == list(_COLUMNS)), None)
    if header is None:
        raise HangingTransactionToolError(
            "kafka-transactions find-hanging printed no table: " + (" | ".join(lines[-3:]) or "nothing"))
    found = []
    for line in lines[header + 1:]:
        cells = line.split()
        if len(cells) < 8:
            raise HangingTransactionToolError(f"kafka-transactions find-hanging: unexpected row {line!r}")
        found.append(HangingTransaction(topic=cells[0], partition=int(cells[1]), producer_id=int(cells[2]),
                                        producer_epoch=int(cells[3]), start_offset=int(cells[5]),
                                        minutes=int(cells[7])))
    return found


def open_transactions(bootstrap_servers: KafkaAddress, topics: Iterable[str]) -> list[str]:
    """``topic[partition]`` of each partition of ``topics`` whose last stable offset is behind its end: a
    transaction is open there right now (a live one, or one left hanging) and read_committed readers wait at it."""
    committed = KafkaConsumer(**client_kwargs(bootstrap_servers), group_id=None, isolation_level="read_committed")
    uncommitted = KafkaConsumer(**client_kwargs(bootstrap_servers), group_id=None,
                                isolation_level="read_uncommitted")
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(committed.partitions_for_topic(t) or ())]
        stable, ends = committed.end_offsets(partitions), uncommitted.end_offsets(partitions)
        return [f"{tp.topic}[{tp.partition}]" for tp in partitions if stable[tp] < ends[tp]]
    finally:
        committed.close()
        uncommitted.close()


def find_hanging(tool: TransactionsTool, *, older_than_min: int = HANGING_AFTER_MIN) -> list[HangingTransaction]:
    """Open transactions older than ``older_than_min`` minutes that their coordinator does not know: they will
    never be closed. Must exceed every producer's transaction timeout (60 s for Connect's and the engine's)."""
    if older_than_min < 1:
        raise ValueError(f"older_than_min={older_than_min}: use 1 minute or more (above any transaction timeout)")
    found: dict[tuple[str, int, int, int], HangingTransaction] = {}
    for broker in tool.brokers():  # one broker at a time; a partition's replicas may each report it
        for txn in parse_find_hanging(tool.run("find-hanging", "--broker-id", str(broker),
                                               "--max-transaction-timeout", str(older_than_min))):
            found.setdefault((txn.topic, txn.partition, txn.producer_id, txn.start_offset), txn)
    return list(found.values())


def abort(tool: TransactionsTool, hanging: HangingTransaction) -> None:
    """Write the abort marker that closes ``hanging``: read_committed readers move past it again."""
    tool.run("abort", "--topic", hanging.topic, "--partition", str(hanging.partition),
             "--start-offset", str(hanging.start_offset))


def abort_hanging(tool: TransactionsTool, *, older_than_min: int = HANGING_AFTER_MIN) -> list[HangingTransaction]:
    """Find the hanging transactions (:func:`find_hanging`) and abort each; the ones aborted."""
    found = find_hanging(tool, older_than_min=older_than_min)
    for txn in found:
        abort(tool, txn)
    return found
