"""Topics, partitions, offsets, configuration and consumer lag through kafka-python's admin client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import ConfigFilterType, ConfigResource, ConfigResourceType, OffsetSpec

from streams.config.kafka import KafkaAddress, client_kwargs
from streams.inspect.exceptions import UnknownTopic
from streams.kafka import names

#: Kafka's own topics, Connect's bookkeeping and the flows' store changelogs; ``list`` hides them unless ``--all``.
INTERNAL_PREFIXES = ("__", "_")
INTERNAL_SUFFIXES = ("-changelog",)


def is_internal(topic: str) -> bool:
    return topic.startswith(INTERNAL_PREFIXES) or topic.endswith(INTERNAL_SUFFIXES)


@dataclass(frozen=True, kw_only=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    begin: int
    end: int

    @property
    def messages(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True, kw_only=True)
class TopicInfo:
    name: str
    internal: bool
    partitions: tuple[PartitionInfo, ...]
    config: dict[str, str]

    @property
    def messages(self) -> int:
        """Offsets between begin and end: records plus transaction markers and compacted gaps."""
        return sum(p.messages for p in self.partitions)


@dataclass(frozen=True, kw_only=True)
class LagRow:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else max(self.end - self.committed, 0)


def admin(bootstrap: KafkaAddress) -> KafkaAdminClient:
    return KafkaAdminClient(**client_kwargs(bootstrap), client_id=names.client_id("isthmus-topics"))


def _offsets(client: KafkaAdminClient, partitions: Sequence[TopicPartition], spec: OffsetSpec) -> dict[
        TopicPartition, int]:
    if not partitions:
        return {}
    found = client.list_partition_offsets(dict.fromkeys(partitions, spec))
    return {tp: int(result.offset) for tp, result in found.items()}


def topic_names(bootstrap: KafkaAddress) -> set[str]:
    """The name of every topic, internal ones too: one metadata request, no offsets or configs."""
    client = admin(bootstrap)
    try:
        return set(client.list_topics())
    finally:
        client.close()


def topics(bootstrap: KafkaAddress, names: Sequence[str] | None = None, *, include_internal: bool = False,
           config_keys: Sequence[str] | None = ("cleanup.policy", "retention.ms")) -> list[TopicInfo]:
    """Topics (all, or ``names``) with partitions, begin/end offsets and config (``None`` keys: all)."""
    client = admin(bootstrap)
    try:
        existing = set(client.list_topics())
        if names is not None:
            missing = [n for n in names if n not in existing]
            if missing:
                raise UnknownTopic(f"no topic {', '.join(map(repr, missing))} in the cluster; "
                                   "`isthmus topics list --all` shows them")
            chosen = sorted(names)
        else:
            chosen = sorted(n for n in existing if include_internal or not is_internal(n))
        if not chosen:
            return []
        described = {t["name"]: t for t in client.describe_topics(chosen)}
        partitions = [TopicPartition(name, p["partition_index"]) for name in chosen
                      for p in described[name]["partitions"]]
        begins = _offsets(client, partitions, OffsetSpec.EARLIEST)
        ends = _offsets(client, partitions, OffsetSpec.LATEST)
        wanted = None if config_keys is None else dict.fromkeys(config_keys)
        resources = [ConfigResource(ConfigResourceType.TOPIC, name, wanted) for name in chosen]
        configs: dict[str, Any] = client.describe_configs(resources, config_filter=ConfigFilterType.ALL)["topic"]
        result = []
        for name in chosen:
            infos = tuple(PartitionInfo(partition=p["partition_index"], leader=p["leader_id"],
                                        replicas=tuple(p["replica_nodes"]), isr=tuple(p["isr_nodes"]),
                                        begin=begins[TopicPartition(name, p["partition_index"])],
                                        end=ends[TopicPartition(name, p["partition_index"])])
                          for p in sorted(described[name]["partitions"], key=lambda p: p["partition_index"]))
            config = {k: str(v["value"]) for k, v in sorted(configs.get(name, {}).items())}
            result.append(TopicInfo(name=name, internal=bool(described[name]["is_internal"]) or is_internal(name),
                                    partitions=infos, config=config))
        return result
    finally:
        client.close()


def lag(bootstrap: KafkaAddress, groups: Sequence[str] | None = None) -> list[LagRow]:
    """Committed offset, end offset and lag of each group (all, or ``groups``) on each partition it committed."""
    client = admin(bootstrap)
    try:
        chosen = sorted(groups) if groups else sorted(g["group_id"] for g in client.list_groups())
        if not chosen:
            return []
        committed = client.list_group_offsets(dict.fromkeys(chosen))
        existing = set(client.list_topics())
        partitions = sorted({tp for offsets in committed.values() for tp in offsets if tp.topic in existing})
        ends = _offsets(client, partitions, OffsetSpec.LATEST)
        rows = []
        for group in chosen:
            for tp, meta in sorted(committed.get(group, {}).items()):
                if tp not in ends:
                    continue
                offset = int(meta.offset) if meta.offset is not None and meta.offset >= 0 else None
                rows.append(LagRow(group=group, topic=tp.topic, partition=tp.partition, committed=offset,
                                   end=ends[tp]))
        return rows
    finally:
        client.close()


__all__ = ["LagRow", "PartitionInfo", "TopicInfo", "is_internal", "lag", "topic_names", "topics"]
