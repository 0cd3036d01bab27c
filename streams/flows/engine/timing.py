"""Where a flow's time goes: what its records wait for versus what is worked on, per batch.

A record's path through a task: produced to its input (its Kafka timestamp), fetched, its batch waits for the
processor (other tasks' batches, a task starting), the handler runs over the batch (wall and CPU), the batch
waits for the task's previous transaction (commits are pipelined: one in flight per task), then its own
transaction commits and its output becomes visible to read_committed consumers. Each step is a :class:`Tally`
(``streams/worker/metrics.py`` exposes them), so the latency benchmark can name the slowest one by measurement.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from streams.metrics.tally import Tally


@dataclass
class FlowTimings:
    #: Per input record: its Kafka timestamp to the start of the handler over its batch (producer, Connect's
    #: commit, the broker, fetching and the batch's queueing: everything before the flow works on it). Records
    #: timestamped by another clock may show a small negative wait, counted in the lowest bucket.
    record_wait: Tally = field(default_factory=Tally)
    #: Per batch: fetched to handler start (waiting for the processor's lock: other tasks' batches).
    batch_queue: Tally = field(default_factory=Tally)
    #: Per batch: the handler over every record and the stores' flush, wall time.
    handler: Tally = field(default_factory=Tally)
    #: Per batch: the same in CPU time of the event loop's thread (wall minus CPU is time the loop gave others).
    handler_cpu: Tally = field(default_factory=Tally)
    #: Per transaction: its batches handled to the task's previous transaction completed (the pipelined commit's
    #: stall; a batch handled while that one is in flight joins the next transaction instead of waiting).
    commit_wait: Tally = field(default_factory=Tally)
    #: Per transaction: begin to committed (send, offsets, end transaction).
    commit: Tally = field(default_factory=Tally)

    def record_waits(self, timestamps_ms: list[int], started_at: float) -> None:
        """Each record's wait from its timestamp (ms since the epoch) to ``started_at`` (seconds since the epoch).
        Records of a batch mostly share a few timestamps (a source transaction, a producer's linger): each
        distinct one is observed once, times its records."""
        tally = self.record_wait
        for ts, times in Counter(timestamps_ms).items():
            tally.observe(max(0.0, started_at - ts / 1000), times)
