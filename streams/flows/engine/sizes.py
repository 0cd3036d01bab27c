"""How large a record the flow engine produces, and what becomes of one that is larger.

Kafka bounds a record twice: the producer's ``max.request.size`` (aiokafka's ``max_request_size``, 1 MiB by
default) and the topic's ``max.message.bytes`` (the brokers' ``message.max.bytes`` when the topic sets none:
1048588 bytes by default), which the broker applies to each record batch. aiokafka checks its bound in ``send``;
the engine hands whole record batches over (:func:`~streams.flows.engine.batches.send_batched`), which nothing
checks before the broker. A record over the topic's bound therefore failed its transaction with a bare
``MessageSizeTooLargeError`` (no topic, no record), and the flow, restarting from its last commit, failed on the
same record again, for ever.

So each record a handler emits is measured where it is emitted (``RecordContext.emit``), with aiokafka's own
estimate, against ``EngineSettings.max_request_size``: one over it is an
:class:`~streams.flows.engine.api.OutputTooLarge` rejection, and the input record that produced it is undone and
dead-lettered (naming the output topic, the size, the limit and the fix) while the flow goes on. A dead letter is
produced under the same bound; one that cannot keep the input record's value within it keeps the rest
(:func:`~streams.kafka.deadletters.without_value`). What the brokers refuse all the same (a topic whose
``max.message.bytes`` is below the setting, a store value too large for its changelog) cannot be tied to an input
record: :class:`RefusedAsTooLarge` names the flow, the topic, the size and the fix, and the flow reports itself
failing on /health while it retries from its last commit.
"""

from __future__ import annotations

from aiokafka.errors import KafkaError

# the engine's names of the bound shared with the sinks (streams/kafka/sizes.py)
from streams.kafka.sizes import DEFAULT_MAX_REQUEST_SIZE as DEFAULT_MAX_REQUEST_SIZE
from streams.kafka.sizes import raise_topic_limit
from streams.kafka.sizes import record_size as record_size

#: The worker setting of the bound, as the fixes name it (``WorkerSettings.max_request_size``).
MAX_REQUEST_SIZE_ENV = "ISTHMUS_WORKER_MAX_REQUEST_SIZE"

#: Leave the large value out at its source, the fix besides raising the bounds.
SHORTEN_AT_SOURCE = ("or leave the large column out of the capture (the connector's column.exclude.list) or cut it "
                     "there (column.truncate.to.<length>.chars)")


#: What became of the rest of an input record's work when one record it produced was too large: the engine undoes
#: all of it.
NOTHING_WRITTEN = "nothing it produced was written"


def too_large(topic: str, size: int, limit: int, outcome: str = NOTHING_WRITTEN) -> str:
    """The reason of an input record dead-lettered because a record it produced for ``topic`` is too large;
    ``outcome``: what became of the rest of its work."""
    return (f"a record it produced for {topic} is {size} bytes, over the {limit} bytes the worker produces at most "
            f"({MAX_REQUEST_SIZE_ENV}); {outcome}. Fix: raise {MAX_REQUEST_SIZE_ENV} to at "
            f"least {size} and the max.message.bytes of {topic} with it (the brokers' message.max.bytes for a topic "
            f"that sets none), then replay this dead letter; {SHORTEN_AT_SOURCE}")


class RefusedAsTooLarge(KafkaError):  # type: ignore[misc]
    """Kafka refused a record batch of a flow's transaction as too large (``MESSAGE_TOO_LARGE``): a record the
    engine let through (within ``max_request_size``, or a store's value, which is not measured as it is written)
    that the topic does not allow. It cannot be tied to an input record any more; the flow restarts from its last
    commit (a ``KafkaError``) and reports itself failing."""

    def __init__(self, *, flow: str, task: int, topic: str, partition: int, size: int, limit: int,
                 retry_s: float) -> None:
        raise_topic = raise_topic_limit(topic, size)
        if topic.endswith("-changelog"):
            fix = (f"it holds a value of the flow's state, written when its batch ends, with no input record to "
                   f"dead-letter. Fix: {raise_topic}")
        else:
            fix = (f"Fix: {raise_topic}, or lower {MAX_REQUEST_SIZE_ENV} (now {limit}) to the topic's limit, so that "
                   "the input record producing it is dead-lettered and the flow goes on")
        super().__init__(
            f"flow {flow}: Kafka refused a record batch for {topic}[{partition}] as too large for the topic (its "
            f"max.message.bytes, or the brokers' message.max.bytes): the largest record the transaction wrote to "
            f"{topic} is {size} bytes. The flow cannot go past it and retries from its last commit every "
            f"{retry_s:.0f} s; {fix}")
        self.flow = flow
        #: The flow's task whose transaction it failed: the flow is failing until that task commits again.
        self.task = task
        self.topic = topic
        self.partition = partition
        self.size = size

    def __str__(self) -> str:
        return str(self.args[0])  # the message alone: KafkaError's would put the class name before it
