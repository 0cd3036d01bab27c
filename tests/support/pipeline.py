"""A pipeline of real processes for end-to-end tests of a set of files (an example, a second pair of systems):
``isthmus worker`` and one ``isthmus sink`` per target system, started together, ready when the worker says so,
stopped with SIGTERM and expected to exit 0; and the
clean-up such a test owes the shared stack (its connector with its offsets, its replication slot, its topics and
consumer groups)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streams.capture.client import ConnectClient
from streams.capture.deploy import delete, wait_until
from streams.sinks.topics import command_topic
from support.waiting import eventually


def start_cli(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``isthmus <args>`` as a process of its own, its output in ``log`` (the daily re-sync off)."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "streams.cli.main", *args],
                                env={**os.environ, "ISTHMUS_RESYNC_AT": "off", **env}, stdout=out,
                                stderr=subprocess.STDOUT)


@contextmanager
def pipeline(*, host: str, worker_env: Mapping[str, str], sinks: Mapping[str, Mapping[str, str]],
             logs: Path, ready_timeout: float = 120) -> Iterator[Path]:
    """The worker (with ``worker_env``) and a sink per ``sinks`` entry (system -> its env), their logs in
    ``logs``; yields ``logs`` once the worker is ready. Any process that exits early fails the test with its log.
    The worker's port is ``worker_env``'s ISTHMUS_WORKER_PORT, else the one the system gives it (port 0, read from
    its log); a sink's /metrics port is its env's ISTHMUS_SINK_METRICS_PORT plus the system's place among the
    writable systems, else the one the system gives it.
    A port chosen free beforehand could be taken by a sink's port 0 before the worker binds it."""
    given = worker_env.get("ISTHMUS_WORKER_PORT")
    worker_log = logs / "worker.log"
    started = [("worker", start_cli(["worker"], {**worker_env, "ISTHMUS_WORKER_PORT": given or "0"}, worker_log))]
    started += [(f"sink-{system}", start_cli(["sink", "--target", system], {"ISTHMUS_SINK_METRICS_PORT": "0", **env},
                                             logs / f"sink-{system}.log"))
                for system, env in sinks.items()]
    try:
        def ready() -> bool:
            for name, process in started:
                assert process.poll() is None, f"{name} exited: {(logs / f'{name}.log').read_text()[-3000:]}"
            port = int(given) if given else bound_port(worker_log.read_text())
            return port is not None and httpx.get(f"http://{host}:{port}/ready", timeout=2).status_code == 200

        eventually("the worker's /ready", ready, timeout=ready_timeout, ignoring=(httpx.HTTPError,),
                   context=lambda: (logs / "worker.log").read_text()[-3000:])
        yield logs
    finally:
        for _, process in started:
            process.send_signal(signal.SIGTERM)
        for name, process in started:
            code = process.wait(timeout=60)
            assert code == 0, f"{name} exited {code}: {(logs / f'{name}.log').read_text()[-3000:]}"


def bound_port(worker_log: str) -> int | None:
    """The port a worker serves /health on, from its log (it logs it once bound); None until then."""
    found = _HEALTH_ON.search(worker_log)
    return int(found.group(1)) if found else None


_HEALTH_ON = re.compile(r"; health on http://\S+:(\d+)/health")


def remove_connector(client: ConnectClient, name: str, say: Callable[[str], None]) -> None:
    """Stop a connector, forget its source offsets (so the next session snapshots afresh) and delete it."""
    if client.find_config(name) is None:
        return
    client.stop(name)
    wait_until(client, name, "stopped", lambda s: s.state == "STOPPED" and not s.tasks, say=say,
               timeout=120, fail_on_failed=False)
    client.delete_offsets(name)
    delete(client, name, say=say)


def drop_slot(conn: psycopg.Connection[Any], slot: str) -> None:
    """Drop a PostgreSQL replication slot once its connector let go of it, and the publication of its name."""
    def dropped() -> bool:
        row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
        if row is not None and not row[0]:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        return row is None or not row[0]

    with suppress(AssertionError):  # a slot still held after a minute is left, as the connector still holds it
        eventually(f"replication slot {slot} released", dropped, timeout=60)
    conn.execute(f"DROP PUBLICATION IF EXISTS {slot}")


def delete_topics_and_groups(bootstrap: str, *, topic_prefixes: tuple[str, ...], groups: tuple[str, ...],
                             say: Callable[[str], None]) -> None:
    """Delete the consumer groups named and every topic that starts with one of the prefixes."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = {group["group_id"] if isinstance(group, dict) else group[0] for group in admin.list_groups()}
        doomed_groups = [g for g in groups if g in existing]
        if doomed_groups:
            admin.delete_groups(doomed_groups)
        doomed = [t for t in admin.list_topics() if t.startswith(topic_prefixes)]
        if doomed:
            admin.delete_topics(doomed)
    except KafkaError as exc:
        say(f"could not clean up Kafka: {exc!r}")
    finally:
        admin.close()


def command_counts(bootstrap: str, systems: tuple[str, ...]) -> dict[str, int]:
    """Records on each system's command topic (end offsets; transaction markers included, so only growth counts):
    a pipeline's output towards its systems, for a fixed-point check."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        counts = {}
        for system in systems:
            topic = command_topic(system)
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            counts[system] = sum(consumer.end_offsets(partitions).values()) if partitions else 0
        return counts
    finally:
        consumer.close()
