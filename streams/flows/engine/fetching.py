"""Taking a batch of the records the consumer has fetched, fairly across its partitions.

aiokafka hands fetched records out partition by partition, in the order their fetches came back, and a partition
goes on being drained until its fetch is used up. A fetch of a compressed topic holds tens of thousands of records
(4 MiB of lz4 batches of Debezium changes, the default fetch: ~20,000), so one topic can run that far ahead of the
others. A flow that joins the tables of one source transaction then sees a bulk load's contacts long before their
customers, and each waits for its customer, parked (BENCHMARKS.md, section "Session of 2026-12-05, sixth": 249,888
of them, with fetches of 16 MiB).

:func:`take_fairly` shares a batch out evenly over the partitions that have records at hand (what one cannot fill
goes to the others), so each topic advances by as many records as the others. The records of each partition stay in
their order; only how far one partition runs ahead of another changes. A table's parents being fewer than its
children (a customer, its contacts), the parents' topic leads.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

Batch = dict[TopicPartition, list[ConsumerRecord]]


async def take_fairly(consumer: AIOKafkaConsumer, *, timeout_ms: int, max_records: int) -> Batch:
    """At most ``max_records`` fetched records, waiting up to ``timeout_ms`` for the first, shared out evenly over
    the partitions (assigned and not paused) that have some at hand: each gets an equal share, and what one could
    not fill goes to the others, in rounds, until the batch is full or no partition has more at hand."""
    partitions = sorted(consumer.assignment() - consumer.paused())
    if len(partitions) < 2:
        whole: Batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return whole
    batch: Batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=max(1, max_records // len(partitions)))
    if not batch:
        return batch
    counts = {tp: len(batch.get(tp, ())) for tp in partitions}
    taken, active = sum(counts.values()), partitions
    while active and taken < max_records:
        # Water-filling: every partition still active is brought up to one level; one that cannot reach it has no
        # more at hand and leaves the rounds, the others share what it left.
        level = -(-(max_records - taken + sum(counts[tp] for tp in active)) // len(active))
        more, before = [], taken
        for tp in active:
            want = min(level - counts[tp], max_records - taken)
            if want <= 0:  # at the level already: it may have more for a later round
                more.append(tp)
                continue
            got = (await consumer.getmany(tp, max_records=want)).get(tp, [])
            if got:
                batch.setdefault(tp, []).extend(got)  # after what the partition gave before: its order kept
                counts[tp] += len(got)
                taken += len(got)
            if len(got) == want:
                more.append(tp)
        if taken == before and len(more) == len(active):
            break
        active = more
    return batch
