"""The few Kafka operations the sinks share: creating missing topics, reading a partition's range."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from streams.sinks.exceptions import KafkaUnavailable
from streams.sinks.topics import TopicSpec


async def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet (existing ones are left as they are); returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="isthmus-sink-admin")
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap_servers} cannot be reached ({exc}); start the stack "
                               "(isthmus up) or set ISTHMUS_KAFKA_PORT") from exc
    try:
        existing = set(await admin.list_topics())
        wanted = [spec for spec in specs if spec.name not in existing]
        if not wanted:
            return []
        try:
            await admin.create_topics([NewTopic(s.name, s.partitions, 1, topic_configs=dict(s.config))
                                       for s in wanted])
        except KafkaError as exc:
            if "TopicAlreadyExists" not in type(exc).__name__:
                raise KafkaUnavailable(f"Kafka refused to create {', '.join(s.name for s in wanted)}: {exc}") from exc
        return [s.name for s in wanted]
    finally:
        await admin.close()
