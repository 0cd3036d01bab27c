"""Topics, partitions, offsets, configuration, consumer groups and their lag through kafka-python's admin client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import ConfigFilterType, ConfigResource, ConfigResourceType, OffsetSpec
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TransactionalIdNotFoundError

from streams.config.kafka import KafkaAddress, client_kwargs, kafka_settings
from streams.inspect.exceptions import UnknownTopic
from streams.kafka import names
from streams.kafka.topics import unreachable

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
    #: The metadata committed with the offset (a sink's note: streams/sinks/presence.py), None when empty.
    metadata: str | None = None

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else max(self.end - self.committed, 0)


@dataclass(frozen=True, kw_only=True)
class GroupMember:
    """One consumer in a group: its ``client.id``, the host it connects from, the partitions assigned to it."""

    client: str
    host: str
    partitions: int


@dataclass(frozen=True, kw_only=True)
class GroupInfo:
    """A consumer group as its coordinator describes it: ``state`` (``Stable``, ``Empty``,
    ``PreparingRebalance``, ...) and its members (none: no consumer of it runs)."""

    group: str
    state: str
    members: tuple[GroupMember, ...]


def admin(bootstrap: KafkaAddress, *, bootstrap_timeout_s: float | None = None) -> KafkaAdminClient:
    """An admin client; ``bootstrap_timeout_s``: how long to try the brokers before giving up (kafka-python's
    default: 30 s)."""
    timeout = {} if bootstrap_timeout_s is None else {"bootstrap_timeout_ms": int(bootstrap_timeout_s * 1000)}
    try:
        return KafkaAdminClient(**client_kwargs(bootstrap), client_id=names.client_id("isthmus-topics"), **timeout)
    except (KafkaTimeoutError, KafkaConnectionError) as exc:  # what, where and the fix, not kafka-python's traceback
        raise unreachable(kafka_settings(bootstrap), exc) from exc


def _offsets(client: KafkaAdminClient, partitions: Sequence[TopicPartition], spec: OffsetSpec) -> dict[
        TopicPartition, int]:
    if not partitions:
        return {}
    found = client.list_partition_offsets(dict.fromkeys(partitions, spec))
    return {tp: int(result.offset) for tp, result in found.items()}


def broker_ids(bootstrap: KafkaAddress) -> list[int]:
    """The id of every broker of the cluster that is not fenced (the ones that answer), in order."""
    client = admin(bootstrap)
    try:
        brokers = client.describe_cluster()["brokers"]
    finally:
        client.close()
    # DescribeCluster names it broker_id; the metadata fallback of older brokers node_id
    return sorted(int(b.get("broker_id", b.get("node_id"))) for b in brokers if not b.get("is_fenced"))


def topic_names(bootstrap: KafkaAddress, *, bootstrap_timeout_s: float | None = None) -> set[str]:
    """The name of every topic, internal ones too: one metadata request, no offsets or configs."""
    client = admin(bootstrap, bootstrap_timeout_s=bootstrap_timeout_s)
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


def lag(bootstrap: KafkaAddress, groups: Sequence[str] | None = None, *, prefix: str = "") -> list[LagRow]:
    """Committed offset, end offset and lag of each group (all whose name starts with ``prefix``, or ``groups``)
    on each partition it committed."""
    client = admin(bootstrap)
    try:
        chosen = sorted(groups) if groups else sorted(
            g["group_id"] for g in client.list_groups() if g["group_id"].startswith(prefix))
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
                                   end=ends[tp], metadata=meta.metadata or None))
        return rows
    finally:
        client.close()


def lag_by_topic(rows: Iterable[LagRow]) -> dict[tuple[str, str], int]:
    """``(group, topic) -> lag``: each group's lag summed over the partitions of each topic it committed on
    (a partition it never committed on counts 0)."""
    found: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.group, row.topic)
        found[key] = found.get(key, 0) + (row.lag or 0)
    return found


def groups(bootstrap: KafkaAddress, chosen: Callable[[str], bool]) -> dict[str, GroupInfo]:
    """Every consumer group whose id ``chosen`` keeps, with its state and members: one ListGroups, then one
    DescribeGroups per coordinator for the kept ones only."""
    client = admin(bootstrap)
    try:
        kept = sorted(g["group_id"] for g in client.list_groups() if chosen(g["group_id"]))
        if not kept:
            return {}
        described: dict[str, Mapping[str, Any]] = client.describe_groups(kept)
        return {group: GroupInfo(group=group, state=str(found.get("group_state") or "Unknown"),
                                 members=tuple(_member(m) for m in found.get("members") or ()))
                for group, found in sorted(described.items()) if found.get("group_state") != "Dead"}
    finally:
        client.close()


def transactions_started(bootstrap: KafkaAddress, transactional_ids: Sequence[str]) -> dict[str, int | None]:
    """When the last transaction of each transactional id began (ms, its coordinator's clock; DescribeTransactions,
    Kafka 3.0 or later): the coordinator keeps it after the commit, until the producer starts again. None: no
    transaction since its producer (re)started, or an id the coordinator does not know. Raises KafkaError (an id
    the principal may not DESCRIBE, a broker without the API)."""
    client = admin(bootstrap)
    try:
        found: dict[str, int | None] = {}
        for transactional_id in transactional_ids:
            try:
                described = client.describe_transactions([transactional_id])[transactional_id]
            except TransactionalIdNotFoundError:
                found[transactional_id] = None
                continue
            started = int(described.transaction_start_time_ms)
            found[transactional_id] = started if started >= 0 else None
        return found
    finally:
        client.close()


def _member(described: Mapping[str, Any]) -> GroupMember:
    return GroupMember(client=str(described.get("client_id") or ""), host=str(described.get("client_host") or ""),
                       partitions=_assigned(described.get("member_assignment")))


def _assigned(assignment: Any) -> int:
    """How many partitions a member's assignment names: kafka-python decodes it into a consumer protocol
    assignment (``assigned_partitions``: ``[{topic, partitions}]`` as a dict, or ``(topic, partitions)`` pairs);
    0 when it is empty or not of the consumer protocol."""
    if isinstance(assignment, Mapping):
        assignment = assignment.get("assigned_partitions")
    else:
        assignment = getattr(assignment, "assigned_partitions", None)
    count = 0
    for entry in assignment or ():
        partitions = entry.get("partitions") if isinstance(entry, Mapping) else entry[1]
        count += len(partitions or ())
    return count


__all__ = ["GroupInfo", "GroupMember", "LagRow", "PartitionInfo", "TopicInfo", "groups", "is_internal", "lag",
           "lag_by_topic", "topic_names", "topics", "transactions_started"]
