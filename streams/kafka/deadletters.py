"""Dead-letter records: what failed, where, why, and the original bytes, so it can be replayed.

Every stage (flows, sinks, loaders) writes ``isthmus.canonical.DeadLetter`` records (schemas/dead_letter.avsc),
Avro single-object encoded, to ``isthmus.dlq``, keyed like the record that failed, with the stage in a header.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.kafka import names

#: The dead-letter topic's name before the topic prefix; :func:`dlq_topic` is the topic itself.
DLQ_TOPIC = "isthmus.dlq"
DEAD_LETTER_TYPE = "isthmus.canonical.DeadLetter"
#: Header a replayed record carries: JSON ``{"dlq_topic", "dlq_partition", "dlq_offset", "replayed_at", "stage"}``,
#: ``stage`` the dead letter's (the stage the replay is addressed to; absent in replays older than it: to any reader).
REPLAY_HEADER = "isthmus.replay"
#: Header on dead letters: the stage that failed, so a reader can filter without decoding.
STAGE_HEADER = "isthmus.stage"
#: Among a dead letter's ``headers``: its original value was left out (too large to keep in it; the header's value
#: is the value's length in bytes, as text). Such a dead letter cannot be replayed as stored (:func:`without_value`).
VALUE_LEFT_OUT_HEADER = "isthmus.value_left_out"
#: What brings back the values of a record whose dead letter could not keep them (:func:`without_value`). The row's
#: next change is not enough: on a PostgreSQL table without REPLICA IDENTITY FULL an update leaves its unchanged
#: TOASTed values out (Debezium's placeholder), the large one most likely, so only a read of the row carries them.
READ_AGAIN = ("once the limits allow it, read the row again: snapshot its table (`isthmus connectors snapshot "
              "<connector> --tables <table>`), whose read carries every value of the row. Its next change is not "
              "enough: where the table is PostgreSQL's without REPLICA IDENTITY FULL, an update leaves an unchanged "
              "large (TOASTed) value out, and an entity flow then holds the entity until a read gives the value")

Headers = tuple[tuple[str, bytes | None], ...]


def dlq_topic() -> str:
    """The dead-letter topic, with the topic prefix (``isthmus.dlq`` without one)."""
    return names.topic(DLQ_TOPIC)


@dataclass(frozen=True, kw_only=True)
class Original:
    """The consumed record a dead letter keeps."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


def replay_header(dlq: str, partition: int, offset: int, replayed_at: datetime, *, stage: str | None = None) -> bytes:
    """The value of :data:`REPLAY_HEADER` for a replay of the dead letter at ``dlq[partition]@offset``, addressed
    to ``stage`` (the stage that dead-lettered it; None: to every reader of the topic)."""
    info: dict[str, Any] = {"dlq_topic": dlq, "dlq_partition": partition, "dlq_offset": offset,
                            "replayed_at": replayed_at.isoformat()}
    if stage:
        info["stage"] = stage
    return json.dumps(info).encode()


def replayed_headers(letter: Mapping[str, Any], dlq: str, partition: int, offset: int,
                     replayed_at: datetime) -> list[tuple[str, bytes]]:
    """The headers of a replay of ``letter`` (a DeadLetter record, at ``dlq[partition]@offset``): its original
    headers, then :data:`REPLAY_HEADER` addressed to the letter's stage (an earlier replay's is dropped)."""
    kept = [(h["key"], h["value"] if h["value"] is not None else b"") for h in letter.get("headers", [])
            if h["key"] != REPLAY_HEADER]
    stage = letter.get("stage")
    return [*kept, (REPLAY_HEADER, replay_header(dlq, partition, offset, replayed_at,
                                                 stage=str(stage) if stage else None))]


def is_replay(headers: Headers) -> bool:
    """Whether a record is a replay of a dead letter (it carries :data:`REPLAY_HEADER`)."""
    return any(name == REPLAY_HEADER for name, _ in headers)


def replay_stage(headers: Headers) -> str | None:
    """The stage a replayed record is addressed to (the one that dead-lettered it); None when the record is no
    replay, or its :data:`REPLAY_HEADER` names no stage (written before replays were addressed, or unreadable):
    such a replay is every reader's."""
    for name, raw in headers:
        if name == REPLAY_HEADER and raw:
            try:
                stage = json.loads(raw).get("stage")
            except (ValueError, AttributeError):
                return None
            return stage if isinstance(stage, str) and stage else None
    return None


#: The note beside a dead letter that says it was dealt with (schemas/dead_letter_replay.avsc): replayed as stored,
#: or settled by the entity flow that reads the topic.
REPLAY_NOTE = "isthmus.canonical.DeadLetterReplay"


def replay_note(headers: Headers) -> str | None:
    """``replay of isthmus.dlq[0]@12`` when the record was replayed from a dead letter."""
    for name, raw in headers:
        if name == REPLAY_HEADER and raw:
            try:
                info = json.loads(raw)
                return f"replay of {info['dlq_topic']}[{info['dlq_partition']}]@{info['dlq_offset']}"
            except (ValueError, KeyError, TypeError):
                return "replay of a dead letter"
    return None


def dead_letter_value(original: Original, *, reason: str, error_type: str, stage: str, attempts: int,
                      worker: str, failed_at: datetime | None = None) -> dict[str, Any]:
    """The DeadLetter record for ``original``; a record that fails again after a replay says so."""
    note = replay_note(original.headers)
    if note is not None:
        reason = f"failed again after a {note}: {reason}"
    return {
        "reason": reason,
        "error_type": error_type,
        "stage": stage,
        "topic": original.topic,
        "partition": original.partition,
        "offset": original.offset,
        "timestamp": (datetime.fromtimestamp(original.timestamp_ms / 1000, UTC)
                      if original.timestamp_ms is not None else None),
        "key": original.key,
        "value": original.value,
        "headers": [{"key": k, "value": v} for k, v in original.headers],
        "failed_at": failed_at or datetime.now(UTC),
        "attempts": attempts,
        "worker": worker,
    }


#: Among a dead letter's ``headers``: the first bytes of the original value :func:`without_value` left out (at most
#: :data:`EXCERPT_BYTES`), so that what it was can be seen (``isthmus topics dlq show``).
VALUE_EXCERPT_HEADER = "isthmus.value_excerpt"
EXCERPT_BYTES = 2048
#: The longest reason a dead letter that left its value out keeps (a reason holding a target's answer may be long).
MAX_REASON_CHARS = 8192


def without_value(letter: Mapping[str, Any], limit: int, *, setting: str | None = None, then: str = READ_AGAIN,
                  headers: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """``letter`` (a DeadLetter record) without the original value, for a dead letter that cannot hold it within
    ``limit`` bytes (``setting``: the variable that sets it; a record too large for a flow's output is mostly too
    large for a dead letter too): it keeps an excerpt of it (:data:`VALUE_EXCERPT_HEADER`), its reason says so,
    the size, the limit, where the record still is and ``then`` (what brings it again), and
    :data:`VALUE_LEFT_OUT_HEADER` marks it, for a replay as stored would write no value (``isthmus topics dlq replay``
    refuses it). ``headers``: more headers to keep beside those (a sink's command without its payload)."""
    value = letter.get("value") or b""
    where = f"{letter['topic']}[{letter['partition']}]@{letter['offset']}"
    excerpt = bytes(value[:EXCERPT_BYTES])
    given = str(letter["reason"])
    if len(given) > MAX_REASON_CHARS:
        given = f"{given[:MAX_REASON_CHARS]}… ({len(given) - MAX_REASON_CHARS} more characters)"
    reason = (f"{given}. The record's value ({len(value)} bytes) is left out of this dead letter, which cannot hold "
              f"it within {limit} bytes{f' ({setting})' if setting else ''} (its first {len(excerpt)} bytes are in "
              f"its header {VALUE_EXCERPT_HEADER}), so it cannot be replayed as stored: the record is still at {where} "
              f"while that topic keeps it; {then}")
    markers = [{"key": VALUE_LEFT_OUT_HEADER, "value": str(len(value)).encode()},
               {"key": VALUE_EXCERPT_HEADER, "value": excerpt}, *headers]
    return {**letter, "reason": reason, "value": None, "headers": [*letter.get("headers", ()), *markers]}


def value_left_out(letter: Mapping[str, Any]) -> int | None:
    """The length of the original value :func:`without_value` left out of ``letter``; None when it keeps it."""
    for header in letter.get("headers") or ():
        if header.get("key") == VALUE_LEFT_OUT_HEADER:
            try:
                return int(bytes(header.get("value") or b"0"))
            except ValueError:
                return 0
    return None
