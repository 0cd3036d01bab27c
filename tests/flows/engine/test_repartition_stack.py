"""A worker refuses a partitioned layout it cannot run correctly, before any flow starts, naming the topic."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import pytest
from support.topics import partition_counts

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.repartition import RepartitionError, layout, prepare
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.mapping import load_mappings
from streams.stack.running import RunningStack
from streams.systems import load_systems


def _ignore(record: Incoming, ctx: Context) -> None:
    del record, ctx


def _customer_keys() -> Any:
    """The customer flow's (stateful) router, as the reference flow file configures it."""
    schemas = SchemaStore.from_directory()
    return CustomerFlow(mappings=load_mappings(schemas=schemas.schemas), schemas=schemas,
                        systems=load_systems(env={})).spec().key_by


def test_a_stateful_keying_stage_on_inputs_of_several_partitions_is_refused(stack: RunningStack) -> None:
    run = uuid.uuid4().hex[:8]
    wide, narrow = f"it-wide-{run}", f"it-narrow-{run}"
    bootstrap = stack.settings.bootstrap_servers
    asyncio.run(ensure_topics(bootstrap, [TopicSpec(name=wide, partitions=3), TopicSpec(name=narrow, partitions=1)]))
    spec = FlowSpec(name=f"it-keyed-{run}", inputs=(narrow, wide), handler=_ignore, key_by=_customer_keys())
    with pytest.raises(RepartitionError, match=f"{wide} has 3"):
        asyncio.run(prepare(bootstrap, layout([spec], 3)))


def test_the_keyed_flows_topics_are_made_with_their_partitions_before_any_flow_starts(stack: RunningStack) -> None:
    run = uuid.uuid4().hex[:8]
    bootstrap = stack.settings.bootstrap_servers
    spec = FlowSpec(name=f"it-made-{run}", inputs=(f"it-in-{run}",), handler=_ignore, stores=("s",),
                    key_by=_customer_keys())
    laid = layout([spec], 3)
    asyncio.run(prepare(bootstrap, laid))
    assert partition_counts(bootstrap, [t.name for t in laid.topics]) == {
        f"it-made-{run}-p3-by-key": 3, f"it-made-{run}-p3-s-changelog": 3}


def test_an_internal_topic_of_another_size_is_refused(stack: RunningStack) -> None:
    run = uuid.uuid4().hex[:8]
    bootstrap = stack.settings.bootstrap_servers
    spec = FlowSpec(name=f"it-sized-{run}", inputs=(f"it-in-{run}",), handler=_ignore, key_by=_customer_keys())
    laid = layout([spec], 3)
    asyncio.run(ensure_topics(bootstrap, [dataclasses.replace(laid.topics[0], partitions=2)]))
    with pytest.raises(RepartitionError, match="has 2 partitions, not 3"):
        asyncio.run(prepare(bootstrap, laid))
