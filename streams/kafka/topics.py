"""Creating the topics a stage writes, when they do not exist yet (existing topics are never altered)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from streams.config.kafka import KafkaAddress, KafkaSettings, client_kwargs, kafka_settings
from streams.errors import IsthmusError
from streams.kafka import names
from streams.kafka.reachability import refused_now
from streams.kafka.refusals import principal

log = logging.getLogger(__name__)

#: Seconds :func:`ensure_topics` waits for the topics it created to be described with their partitions. The controller
#: answers CreateTopics once it has recorded a topic; a broker learns of it from the metadata log a moment later (a
#: second or two on a busy machine), and a client asking that broker before is told the topic does not exist.
CREATED_WAIT_S = 30.0
#: Seconds between two descriptions while it waits.
CREATED_POLL_S = 0.1


class KafkaUnavailable(IsthmusError):
    """Kafka could not be reached, or refused a request."""


@dataclass(frozen=True, kw_only=True)
class TopicSpec:
    name: str
    partitions: int
    config: tuple[tuple[str, str], ...] = ()


def unreachable(kafka: KafkaSettings, exc: Exception) -> KafkaUnavailable:
    """What, where and the fix of a Kafka that does not answer: the address and protocol tried, and which
    settings to check (a TLS or SASL client against a PLAINTEXT listener fails this way too); when the brokers did
    answer and refused the login or were not trusted (the connections' watcher saw it), that instead."""
    refused = refused_now()
    if refused is not None:
        return KafkaUnavailable(f"Kafka at {kafka} refuses this client ({refused}); "
                                "`isthmus config show` prints the settings in use")
    return KafkaUnavailable(
        f"Kafka at {kafka} cannot be reached ({exc}); check that the brokers run and that "
        "ISTHMUS_KAFKA_BOOTSTRAP_SERVERS and ISTHMUS_KAFKA_SECURITY_PROTOCOL match their listener (SASL and TLS "
        "settings too; `isthmus config show` prints them), or start the local stack (isthmus up)")


async def start_admin(admin: AIOKafkaAdminClient, kafka: KafkaSettings) -> None:
    try:
        await admin.start()
    except (KafkaConnectionError, OSError) as exc:
        raise unreachable(kafka, exc) from exc


async def ensure_topics(bootstrap_servers: KafkaAddress, specs: Iterable[TopicSpec], *,
                        wait_s: float = CREATED_WAIT_S) -> list[str]:
    """Create the topics that do not exist yet, and wait (up to ``wait_s``) until Kafka describes them with their
    partitions; returns those created. Without the wait, the clients that use a topic next (a flow's restore
    reading its new changelogs) ask for it before the broker knows it, and aiokafka logs each such answer as
    ``ERROR aiokafka.cluster: Topic ... not found in cluster metadata`` while it asks again: dozens on a clean first
    start."""
    kafka = kafka_settings(bootstrap_servers)
    admin = AIOKafkaAdminClient(**client_kwargs(kafka), client_id=names.client_id("isthmus-admin"))
    await start_admin(admin, kafka)
    try:
        existing = set(await admin.list_topics())
        wanted = {spec.name: spec for spec in specs if spec.name not in existing}
        if not wanted:
            return []
        try:
            answer = await admin.create_topics([NewTopic(s.name, s.partitions, kafka.replication_factor,
                                                         topic_configs={**kafka.topic_config(), **dict(s.config)})
                                                for s in wanted.values()])
        except KafkaError as exc:
            if "TopicAlreadyExists" not in type(exc).__name__:
                raise KafkaUnavailable(f"Kafka refused to create {', '.join(wanted)}: {exc}") from exc
        else:
            _raise_refusals(answer, kafka)
        await _until_described(admin, list(wanted), wait_s)
        return list(wanted)
    finally:
        await admin.close()


async def _until_described(admin: AIOKafkaAdminClient, topics: Sequence[str], wait_s: float) -> None:
    """Wait until ``admin`` describes every one of ``topics`` with its partitions, or ``wait_s`` has passed (then
    say which are still not described: their clients wait for them, which is slower, not wrong)."""
    deadline = time.monotonic() + wait_s
    missing = set(topics)
    while True:
        missing -= {d["topic"] for d in await admin.describe_topics(sorted(missing)) if d.get("partitions")}
        if not missing or time.monotonic() >= deadline:
            break
        await asyncio.sleep(CREATED_POLL_S)
    if missing:
        log.warning("Kafka does not describe %s %.0f s after creating it; its clients wait until it does",
                    ", ".join(sorted(missing)), wait_s)


#: CreateTopics error codes that mean "it exists already" (none) or "someone else just created it".
_ALREADY_THERE = {0, 36}
_AUTHORIZATION = {29: "TOPIC_AUTHORIZATION_FAILED", 31: "CLUSTER_AUTHORIZATION_FAILED"}


def _raise_refusals(answer: object, kafka: KafkaSettings) -> None:
    """The broker answers a CreateTopics request per topic, not with an exception: a topic it refused (an ACL
    that does not allow Create, a replication factor above the brokers' count) is an error naming the topic,
    the principal and the fix, instead of a topic waited for that never comes."""
    refused = [(str(topic), int(code), message) for topic, code, *rest in getattr(answer, "topic_errors", ())
               for message in [rest[0] if rest else None] if int(code) not in _ALREADY_THERE]
    if not refused:
        return
    lines = []
    for topic, code, message in refused:
        if code in _AUTHORIZATION:
            lines.append(f"topic {topic}: {_AUTHORIZATION[code]}: the principal {principal(kafka)} "
                         f"may not create it; grant Create on it (or its prefix), or create it beforehand")
        else:
            lines.append(f"topic {topic}: error {code}{f' ({message})' if message else ''}")
    raise KafkaUnavailable(f"Kafka at {kafka} refused to create topics:\n  " + "\n  ".join(lines))


async def partition_counts(bootstrap_servers: KafkaAddress, topics: Sequence[str]) -> dict[str, int]:
    """The partition count of each of ``topics`` Kafka describes with partitions (a missing topic, or one
    created a moment ago and not described fully yet, is left out)."""
    kafka = kafka_settings(bootstrap_servers)
    admin = AIOKafkaAdminClient(**client_kwargs(kafka), client_id=names.client_id("isthmus-admin"))
    await start_admin(admin, kafka)
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {d["topic"]: len(d["partitions"]) for d in described if d.get("partitions")}
