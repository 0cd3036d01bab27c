"""A topic Isthmus creates is described with its partitions before :func:`ensure_topics` returns: the clients that
use it next (a flow's restore reading its new changelogs) would otherwise ask a broker that does not know it yet,
and aiokafka logs every such answer as ``ERROR aiokafka.cluster: Topic ... not found in cluster metadata``
(72 of them on a trial's clean first start of ten flows)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from streams.kafka import topics
from streams.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.unit


class SpreadingCluster:
    """A broker that learns of a created topic from the metadata log only after ``lag`` descriptions."""

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.created: dict[str, int] = {}
        self.described: dict[str, int] = {}

    def known(self, topic: str) -> bool:
        return topic in self.created and self.described.get(topic, 0) > self.lag


class FakeAdmin:
    cluster: SpreadingCluster

    def __init__(self, **_: Any) -> None:
        pass

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_topics(self) -> list[str]:
        return [t for t in self.cluster.created if self.cluster.known(t)]

    async def create_topics(self, new_topics: list[Any]) -> object:
        for new in new_topics:
            self.cluster.created[new.name] = new.num_partitions
        return type("Answer", (), {"topic_errors": [(new.name, 0, None) for new in new_topics]})()

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        for name in names:
            self.cluster.described[name] = self.cluster.described.get(name, 0) + 1
        return [{"topic": name, "partitions": [{"partition": p} for p in range(self.cluster.created[name])]
                 if self.cluster.known(name) else []} for name in names]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> SpreadingCluster:
    FakeAdmin.cluster = SpreadingCluster(lag=3)
    monkeypatch.setattr(topics, "AIOKafkaAdminClient", FakeAdmin)
    monkeypatch.setattr(topics, "CREATED_POLL_S", 0.0, raising=False)
    return FakeAdmin.cluster


def test_created_changelogs_are_known_to_the_broker_when_ensure_topics_returns(cluster: SpreadingCluster) -> None:
    specs = [TopicSpec(name=f"acme-quote-{store}-changelog", partitions=2, config=(("cleanup.policy", "compact"),))
             for store in ("entities", "index", "rows")]
    created = asyncio.run(ensure_topics("127.0.0.1:9092", specs))
    assert created == [s.name for s in specs]
    assert all(cluster.known(s.name) for s in specs), "a client asking now is told the topic does not exist"


def test_a_topic_never_described_is_named_after_the_wait(cluster: SpreadingCluster,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    cluster.lag = 10**9
    with caplog.at_level(logging.WARNING, logger=topics.__name__):
        asyncio.run(ensure_topics("127.0.0.1:9092", [TopicSpec(name="slow-changelog", partitions=1)], wait_s=0.05))
    assert "slow-changelog" in caplog.text and "its clients wait" in caplog.text
