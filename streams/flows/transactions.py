"""Sends that join the Kafka transaction of the record being processed.

faust-streaming 0.15.3 runs ``exactly_once`` with one transactional producer per source partition and
commits each partition's consumer offsets in that producer's transaction, but ``Topic.send`` from an agent
goes through the app's plain producer: the output is written outside any transaction and becomes visible at
once, so a worker killed after the send and before the commit re-processes the record and a
``read_committed`` reader sees it twice (faust-streaming issues 177 and 517; reproduced here on Kafka 4.3:
50 to 67 duplicates of 3,000 after one SIGKILL). ``send_in_transaction`` writes through the transactional
producer of the source partition instead, so the output, the table changelog and the source offsets commit
or abort together.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TP
from faust.types.enums import ProcessingGuarantee

from streams.errors import IsthmusError


class NotExactlyOnce(IsthmusError):
    """A transactional send was asked of an app that does not run with processing_guarantee=exactly_once."""


def transactional_id(app: faust.App, source: TP) -> str:
    """The id of the producer whose transaction commits ``source``'s offsets (Faust's own naming)."""
    group = app.assignor.group_for_topic(source.topic)
    return f"{app.conf.id}-{group}-{source.partition}"


async def send_in_transaction(
    app: faust.App,
    source: TP,
    topic: str,
    *,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]] | None = None,
    partition: int | None = None,
) -> Any:
    """Send one record in the transaction that will commit the offset of the record from ``source``."""
    guarantee: object = app.conf.processing_guarantee
    if guarantee is not ProcessingGuarantee.EXACTLY_ONCE:
        raise NotExactlyOnce(f"app {app.conf.id!r} does not run exactly_once; "
                             "set processing_guarantee='exactly_once'")
    producer = app.consumer.transactions.producer
    return await producer.send(topic, key, value, partition, None, headers,
                               transactional_id=transactional_id(app, source))
