"""The topics the sinks read and write; the flows import these names rather than spelling them.

``isthmus.commands.<system>``: Command records (Avro single-object, keyed by entity_key) a flow wants a
system to apply. ``isthmus.results.<system>``: one CommandResult per applied command, keyed by entity_key,
written in the same Kafka transaction that commits the command's offset. ``isthmus.dlq``: DeadLetter records
of every stage, keyed like the record that failed; created with unlimited retention, since a dead letter
that expires is a change lost.
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.kafka.deadletters import DLQ_TOPIC, REPLAY_HEADER, STAGE_HEADER
from streams.kafka.topics import TopicSpec

SYSTEMS: tuple[str, ...] = ("crm", "erp")


#: Header on results and dead letters: the command id (when the command decoded).
COMMAND_ID_HEADER = "isthmus.command_id"


__all__ = ["DLQ_TOPIC", "REPLAY_HEADER", "STAGE_HEADER", "TopicSpec"]


def command_topic(system: str) -> str:
    return f"isthmus.commands.{_known(system)}"


def results_topic(system: str) -> str:
    return f"isthmus.results.{_known(system)}"


def sink_stage(system: str) -> str:
    """The ``stage`` a sink writes into its dead letters."""
    return f"sink.{_known(system)}"


def _known(system: str) -> str:
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
    return system


COMMAND_TOPICS = {system: command_topic(system) for system in SYSTEMS}
RESULTS_TOPICS = {system: results_topic(system) for system in SYSTEMS}


#: Commands and results are partitioned by entity key, so per-entity order holds with any partition count.
COMMAND_PARTITIONS = 3
DLQ_PARTITIONS = 1


def sink_topic_specs(systems: Iterable[str] = SYSTEMS) -> tuple[TopicSpec, ...]:
    specs = [TopicSpec(name=DLQ_TOPIC, partitions=DLQ_PARTITIONS, config=(("retention.ms", "-1"),))]
    for system in systems:
        specs.append(TopicSpec(name=command_topic(system), partitions=COMMAND_PARTITIONS))
        specs.append(TopicSpec(name=results_topic(system), partitions=COMMAND_PARTITIONS))
    return tuple(specs)
