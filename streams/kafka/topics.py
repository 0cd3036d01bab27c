"""Creating the topics a stage writes, when they do not exist yet (existing topics are never altered)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from streams.errors import IsthmusError


class KafkaUnavailable(IsthmusError):
    """Kafka could not be reached, or refused a request."""


@dataclass(frozen=True, kw_only=True)
class TopicSpec:
    name: str
    partitions: int
    config: tuple[tuple[str, str], ...] = ()


async def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="isthmus-admin")
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap_servers} cannot be reached ({exc}); start the stack "
                               "(isthmus up) or set ISTHMUS_KAFKA_PORT") from exc
    try:
        existing = set(await admin.list_topics())
        wanted = {spec.name: spec for spec in specs if spec.name not in existing}
        if not wanted:
            return []
        try:
            await admin.create_topics([NewTopic(s.name, s.partitions, 1, topic_configs=dict(s.config))
                                       for s in wanted.values()])
        except KafkaError as exc:
            if "TopicAlreadyExists" not in type(exc).__name__:
                raise KafkaUnavailable(f"Kafka refused to create {', '.join(wanted)}: {exc}") from exc
        return list(wanted)
    finally:
        await admin.close()


async def partition_counts(bootstrap_servers: str, topics: Sequence[str]) -> dict[str, int]:
    """The partition count of each of ``topics`` Kafka describes with partitions (a missing topic, or one
    created a moment ago and not described fully yet, is left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="isthmus-admin")
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {d["topic"]: len(d["partitions"]) for d in described if d.get("partitions")}
