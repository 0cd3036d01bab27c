"""The topics the sinks read and write; the flows import these names rather than spelling them.

``isthmus.commands.<system>``: Command records (Avro single-object, keyed by entity_key) a flow wants a
system to apply. ``isthmus.results.<system>``: one CommandResult per applied command, keyed by entity_key,
written in the same Kafka transaction that commits the command's offset. ``isthmus.dlq``: DeadLetter records
of every stage, keyed like the record that failed; created with unlimited retention, since a dead letter
that expires is a change lost.

``<system>`` is any declared system's name (``systems/<name>.yaml``); only a writable one has command and
result topics. ``COMMAND_TOPICS`` and ``RESULTS_TOPICS`` (by writable system) are computed from ``systems/``
on first use (module ``__getattr__``), so importing this module reads no file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from streams.kafka import names
from streams.kafka.deadletters import DLQ_TOPIC, REPLAY_HEADER, STAGE_HEADER, dlq_topic
from streams.kafka.topics import TopicSpec

#: A system's name, as systems/README.md defines it: it is part of the topic names.
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def writable_systems() -> tuple[str, ...]:
    """The declared systems that take commands (``systems/``, or ``ISTHMUS_SYSTEMS_DIR``)."""
    from streams.systems import load_systems  # streams.systems imports the mapping package, which imports sinks

    return load_systems().writable


#: Header on results and dead letters: the command id (when the command decoded).
COMMAND_ID_HEADER = "isthmus.command_id"


__all__ = ["DLQ_TOPIC", "REPLAY_HEADER", "STAGE_HEADER", "TopicSpec", "dlq_topic"]


#: ``<prefix><system>``: the command and result topics of a system, before the topic prefix
#: (:func:`streams.kafka.names.topic`).
COMMAND_PREFIX, RESULTS_PREFIX = "isthmus.commands.", "isthmus.results."


def command_topic(system: str) -> str:
    return names.topic(f"{COMMAND_PREFIX}{system_name(system)}")


def results_topic(system: str) -> str:
    return names.topic(f"{RESULTS_PREFIX}{system_name(system)}")


def is_command_topic(topic: str) -> bool:
    """Whether ``topic`` is a system's command topic (under the topic prefix)."""
    return topic.startswith(names.topic(COMMAND_PREFIX))


def is_results_topic(topic: str) -> bool:
    return topic.startswith(names.topic(RESULTS_PREFIX))


def sink_group(system: str) -> str:
    """The consumer group and transactional id of a system's sink, before the group prefix
    (:func:`streams.kafka.names.group`)."""
    return f"{SINK_GROUP}{system_name(system)}"


#: What every sink's group starts with (before the group prefix), so a reader tells sinks from flows.
SINK_GROUP = "isthmus-sink-"


#: What the ``stage`` of every sink's dead letters starts with (:func:`sink_stage`).
SINK_STAGE = "sink."


def sink_stage(system: str) -> str:
    """The ``stage`` a sink writes into its dead letters."""
    return f"{SINK_STAGE}{system_name(system)}"


def system_name(system: str) -> str:
    """``system``, checked to be a system's name (:data:`_NAME`); raises ``ValueError`` otherwise."""
    if not isinstance(system, str) or not _NAME.match(system):
        raise ValueError(f"{system!r} is not a system name (lower-case letters, digits and _, starting with a "
                         "letter: the stem of its systems/<name>.yaml)")
    return system


def __getattr__(name: str) -> dict[str, str]:
    """``COMMAND_TOPICS`` and ``RESULTS_TOPICS``: by writable system, from the declared systems on first use."""
    if name == "COMMAND_TOPICS":
        return {system: command_topic(system) for system in writable_systems()}
    if name == "RESULTS_TOPICS":
        return {system: results_topic(system) for system in writable_systems()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Commands and results are partitioned by entity key, so per-entity order holds with any partition count.
COMMAND_PARTITIONS = 3
DLQ_PARTITIONS = 1


def sink_topic_specs(systems: Iterable[str] | None = None) -> tuple[TopicSpec, ...]:
    """The dead-letter topic, and the command and result topics of ``systems`` (default: every writable
    declared system; a read-only system has none)."""
    systems = writable_systems() if systems is None else systems
    specs = [TopicSpec(name=dlq_topic(), partitions=DLQ_PARTITIONS, config=(("retention.ms", "-1"),))]
    for system in systems:
        specs.append(TopicSpec(name=command_topic(system), partitions=COMMAND_PARTITIONS))
        specs.append(TopicSpec(name=results_topic(system), partitions=COMMAND_PARTITIONS))
    return tuple(specs)
