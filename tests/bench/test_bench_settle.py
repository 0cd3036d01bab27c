"""The latency and initial-sync benchmarks start measuring only once the pipeline has read every input to its end
(``bench.latency.settle``), against the real Kafka: a group behind holds the start and is named after the
timeout; a group at the end, or one commit marker short of it, lets the run start."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from bench.exceptions import BenchError
from bench.latency import pipeline_groups, settle
from streams.stack.running import RunningStack


def _commit(bootstrap: str, group: str, partition: TopicPartition, offset: int) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.assign([partition])
        consumer.commit({partition: OffsetAndMetadata(offset, "", -1)})
    finally:
        consumer.close()


def test_settle_waits_for_a_group_behind_and_lets_one_at_the_end_start(stack: RunningStack) -> None:
    bootstrap = stack.settings.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    topic, group = f"bench-settle-{run}", f"bench-settle-{run}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for n in range(5):
        producer.send(topic, key=b"k", value=str(n).encode())
    producer.flush()
    producer.close()
    partition = TopicPartition(topic, 0)

    _commit(bootstrap, group, partition, 2)
    with pytest.raises(BenchError) as behind:
        settle(stack, timeout_s=3, label="a test", groups=[group])
    assert f"{group} {topic}[0] lag 3" in str(behind.value) and "a test" in str(behind.value)

    _commit(bootstrap, group, partition, 4)  # one short of the end: the commit marker a transaction leaves
    assert settle(stack, timeout_s=30, label="a test", groups=[group]) < 30
    _commit(bootstrap, group, partition, 5)
    assert settle(stack, timeout_s=30, label="a test", groups=[group]) < 30


def test_the_pipeline_groups_are_every_flow_and_both_sinks() -> None:
    groups = pipeline_groups()
    assert {"isthmus-customers", "isthmus-orders", "isthmus-stock", "isthmus-canonical"} <= set(groups)
    assert len([g for g in groups if "sink" in g]) == 2
