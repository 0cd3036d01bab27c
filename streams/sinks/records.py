"""The records a sink reads and writes: Command in, CommandResult and DeadLetter out (Avro single-object).

Dead letters are built by :mod:`streams.kafka.deadletters`, shared with every stage; re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.kafka.deadletters import DEAD_LETTER_TYPE, Original, dead_letter_value, replay_note
from streams.sinks.outcomes import Applied, classify_status
from streams.sinks.topics import COMMAND_ID_HEADER, STAGE_HEADER

COMMAND = "isthmus.canonical.Command"
COMMAND_RESULT = "isthmus.canonical.CommandResult"
DEAD_LETTER = DEAD_LETTER_TYPE

__all__ = ["Original", "dead_letter_value", "replay_note"]

Headers = Sequence[tuple[str, bytes | None]]


class CommandUnusable(Exception):
    """A command record that cannot be applied as it is (not decodable, bad payload JSON)."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


@dataclass(frozen=True, kw_only=True)
class SinkCommand:
    """A decoded Command with its payload parsed."""

    command_id: str
    idempotency_key: str
    target: str
    operation: str
    entity_type: str
    entity_key: str
    payload_type: str
    payload: Mapping[str, Any]
    changed_fields: tuple[str, ...] = ()
    correlation_id: str | None = None
    created_at: datetime | None = None
    #: Its flow reads a refusal from the results topic (the schema's default, for commands written before it).
    reads_refusals: bool = True
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def decode_command(store: SchemaStore, value: bytes | None) -> SinkCommand:
    if value is None:
        raise CommandUnusable("the record has no value (a tombstone), so it holds no command; commands are never "
                              "deleted by key, so whoever produced it wrote to the wrong topic", "Tombstone")
    try:
        record = store.decode(value, COMMAND).value
    except CodecError as exc:
        raise CommandUnusable(f"not a Command: {exc}", type(exc).__name__) from exc
    try:
        payload = json.loads(record["payload"])
    except ValueError as exc:
        raise CommandUnusable(f"command {record['command_id']}: payload is not JSON ({exc}); the producer must "
                              "write the payload record as JSON", "MalformedJson") from exc
    if not isinstance(payload, dict):
        raise CommandUnusable(f"command {record['command_id']}: payload is JSON {type(payload).__name__}, not an "
                              "object; the producer must write the payload record as a JSON object",
                              "MalformedJson")
    causation = record.get("causation") or {}
    try:
        payload_type = store.schemas.resolve(record["payload_type"], top_level=True)
    except CodecError:
        payload_type = record["payload_type"]
    return SinkCommand(
        command_id=record["command_id"], idempotency_key=record["idempotency_key"], target=record["target"],
        operation=record["operation"], entity_type=record["entity_type"], entity_key=record["entity_key"],
        payload_type=payload_type, payload=payload,
        changed_fields=tuple(record.get("changed_fields") or ()),
        correlation_id=causation.get("correlation_id"), created_at=record.get("created_at"),
        reads_refusals=bool(record.get("reads_refusals", True)), raw=record)


#: A response longer than this is not copied into the result (a Kafka record must stay well under 1 MiB).
MAX_RESPONSE_CHARS = 256 * 1024


def response_json(body: Any) -> str | None:
    if body is None:
        return None
    text = json.dumps(body, ensure_ascii=False, default=str)
    if len(text) > MAX_RESPONSE_CHARS:
        return json.dumps({"isthmus_truncated": True, "chars": len(text)})
    return text


def result_value(command: SinkCommand, applied: Applied, *, attempts: int, applied_at: datetime | None = None
                 ) -> dict[str, Any]:
    return {
        "command_id": command.command_id,
        "idempotency_key": command.idempotency_key,
        "target": command.target,
        "operation": command.operation,
        "entity_type": command.entity_type,
        "entity_key": command.entity_key,
        "payload_type": command.payload_type,
        "status": applied.status,
        "assigned_ids": dict(applied.ids),
        "response": response_json(applied.body),
        "applied_at": applied_at or datetime.now(UTC),
        "attempts": attempts,
        "replayed": applied.replayed,
        "correlation_id": command.correlation_id,
        "command_created_at": command.created_at,
    }


def result_applied(result: Mapping[str, Any]) -> bool:
    """Whether a CommandResult records a write the target made: a 2xx status, or none (0, a result written before
    results carried it). A business refusal a route declares (a 409 under ``refusals``) ends its command as a
    result too, unapplied; so does a deactivate or cancel that found its record gone (:func:`result_gone`)."""
    status = int(result.get("status") or 0)
    return (status == 0 or classify_status(status) is None) and result_gone(result) is None


#: Where a gone command's answer says what said so (``streams.sinks.gone``).
GONE_KEY = "$gone"


def result_gone(result: Mapping[str, Any]) -> str | None:
    """What said a deactivate or cancel's record was already gone (the state it asks for, so nothing was written),
    from its CommandResult's response; None for any other result."""
    raw = result.get("response")
    if not isinstance(raw, str) or GONE_KEY not in raw:
        return None
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    gone = answer.get(GONE_KEY) if isinstance(answer, Mapping) else None
    return gone if isinstance(gone, str) and gone else None


def output_headers(*, command_id: str | None, stage: str | None = None) -> list[tuple[str, bytes]]:
    headers: list[tuple[str, bytes]] = []
    if command_id is not None:
        headers.append((COMMAND_ID_HEADER, command_id.encode()))
    if stage is not None:
        headers.append((STAGE_HEADER, stage.encode()))
    return headers
