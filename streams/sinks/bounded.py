"""Every record a sink produces fits what Kafka takes: its results and dead letters, bounded where they are made.

A sink commits a command's offset with its CommandResult or DeadLetter in one Kafka transaction. A record over the
producer's ``max_request_size`` (``ISTHMUS_SINK_MAX_REQUEST_SIZE``) fails ``send``, one over the topic's
``max.message.bytes`` fails at the broker, and either failed that transaction, with every other command's outputs in
it, at each retry: a 1.7 MB command the target answered 413 made a dead letter carrying it, and the sink applied
nothing more, for any entity, until a restart that sent every uncommitted command again.

So each output is measured as it is made (:data:`~streams.kafka.sizes.record_size`, aiokafka's own estimate):

- a dead letter over the bound leaves the command's value out (:func:`~streams.kafka.deadletters.without_value`): it
  keeps its reason (the target's answer), where the command is, an excerpt of the value, and the command's fields
  without its payload (:data:`COMMAND_HEADER`: ids, target, operation, entity, changed fields, its small payload
  fields and a digest of the whole payload), which is all the entity flow needs to tell what was refused
  (streams/flows/customers/refused.py) and to derive it again on a replay (streams/flows/customers/rederive.py);
- a CommandResult over the bound leaves the target's answer out (its ids are kept).

A record the broker refuses all the same (a topic whose ``max.message.bytes`` is below the setting) is made again
under :data:`REFUSED_BOUND`, its own record alone, and the commit retried (streams/sinks/worker.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.kafka.deadletters import value_left_out, without_value
from streams.kafka.sizes import record_size
from streams.sinks.records import COMMAND, COMMAND_RESULT, DEAD_LETTER

#: The sink's setting of the bound, as reasons and fixes name it (``SinkSettings.max_request_size``).
MAX_REQUEST_SIZE_ENV = "ISTHMUS_SINK_MAX_REQUEST_SIZE"
#: The bound a record the broker refused is made again under: far within any topic's ``max.message.bytes``.
REFUSED_BOUND = 32 * 1024
#: Header of a dead letter whose command was left out: the command's fields without its payload, as JSON.
COMMAND_HEADER = "isthmus.command"
#: A payload field whose JSON is longer than this is left out of :data:`COMMAND_HEADER` (its length is kept).
LARGE_FIELD_CHARS = 256
#: The payload fields :data:`COMMAND_HEADER` keeps, at most this many characters of JSON in all.
KEPT_PAYLOAD_CHARS = 4096
#: The command's fields :data:`COMMAND_HEADER` keeps.
COMMAND_FIELDS = ("command_id", "idempotency_key", "target", "operation", "entity_type", "entity_key", "payload_type",
                  "changed_fields")

#: What brings a command left out of its dead letter again.
COMMAND_AGAIN = ("its fields are in the header isthmus.command, so `isthmus topics dlq replay` asks the entity flow "
                 "that derived it to derive it again from its current state, which needs no stored value (a command "
                 "no entity flow derives is derived again by its source row's next change or re-sync). Fix the cause "
                 "first (a target that refuses a document this large takes it once the source value is shorter, or "
                 "once the route's body leaves that field out)")

Headers = Sequence[tuple[str, bytes]]


def payload_digest(payload: str) -> str:
    """The digest :data:`COMMAND_HEADER` keeps of a command's payload JSON (which it leaves out)."""
    return hashlib.sha256(payload.encode()).hexdigest()


def command_header(command: Mapping[str, Any]) -> dict[str, Any]:
    """The header of a dead letter that leaves ``command`` (a Command record) out: its fields, its payload's small
    fields (``payload``, JSON), the lengths of those left out (``left_out``) and the digest of the whole payload."""
    text = str(command.get("payload") or "")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    kept: dict[str, Any] = {}
    left_out: dict[str, int] = {}
    room = KEPT_PAYLOAD_CHARS
    for name, value in payload.items() if isinstance(payload, dict) else ():
        size = len(json.dumps(value, ensure_ascii=False, default=str))
        if size > LARGE_FIELD_CHARS or size > room:
            left_out[name] = size
        else:
            kept[name] = value
            room -= size + len(name) + 4
    fields = {name: command.get(name) for name in COMMAND_FIELDS}
    fields["changed_fields"] = list(command.get("changed_fields") or ())
    return {"key": COMMAND_HEADER, "value": json.dumps(
        {**fields, "payload": json.dumps(kept, ensure_ascii=False, default=str), "left_out": left_out,
         "payload_chars": len(text), "payload_sha256": payload_digest(text)}, ensure_ascii=False,
        default=str).encode()}


def letter_command(letter: Mapping[str, Any], schemas: SchemaStore) -> Mapping[str, Any] | None:
    """The command a sink's dead letter refused: its value decoded, or, when the value was left out, its
    :data:`COMMAND_HEADER` (its ``payload`` then holds only the small fields, ``payload_sha256`` the digest of the
    whole); None when it keeps neither. Raises :class:`CodecError` for a value that is no Command."""
    if letter.get("value") is not None:
        return schemas.decode(letter["value"], COMMAND).value
    if value_left_out(letter) is None:
        return None
    for header in letter.get("headers") or ():
        if header.get("key") == COMMAND_HEADER and header.get("value"):
            try:
                found = json.loads(bytes(header["value"]))
            except ValueError as exc:
                raise CodecError(f"its header {COMMAND_HEADER} is no JSON ({exc})") from exc
            return found if isinstance(found, dict) else None
    return None


def same_payload(command: Mapping[str, Any], payload: str) -> bool:
    """Whether ``payload`` (JSON) is what ``command`` (:func:`letter_command`) carried, whole or by its digest."""
    digest = command.get("payload_sha256")
    return payload_digest(payload) == digest if digest else payload == command.get("payload")


def bounded_letter(store: SchemaStore, letter: Mapping[str, Any], *, key: bytes | None, headers: Headers,
                   limit: int, command: Mapping[str, Any] | None) -> tuple[bytes, int | None]:
    """``letter`` (a sink's DeadLetter record) encoded within ``limit`` bytes as a record with ``key`` and
    ``headers``, and its size whole when it had to leave the command out (None when it fits whole). ``command``:
    the Command record it refused (decoded), kept without its payload then (:func:`command_header`)."""
    encoded = store.encode(DEAD_LETTER, letter)
    size = record_size(key, encoded, headers)
    if size <= limit:
        return encoded, None
    kept = [command_header(command)] if command is not None else []
    smaller = without_value(letter, limit, setting=MAX_REQUEST_SIZE_ENV, then=COMMAND_AGAIN if kept else (
        "the flow that sent it sends it again with its source row's next change or re-sync"), headers=kept)
    encoded = store.encode(DEAD_LETTER, smaller)
    if record_size(key, encoded, headers) > limit:  # the original headers themselves are too large: left out too
        smaller["headers"] = smaller["headers"][len(letter.get("headers") or ()):]
        encoded = store.encode(DEAD_LETTER, smaller)
    return encoded, size


def bounded_result(store: SchemaStore, result: Mapping[str, Any], *, key: bytes | None, headers: Headers,
                   limit: int) -> tuple[bytes, int | None]:
    """``result`` (a CommandResult record) encoded within ``limit`` bytes, and its size whole when it had to leave
    the target's answer out (None when it fits whole): its ``response`` says what was left out and why."""
    encoded = store.encode(COMMAND_RESULT, result)
    size = record_size(key, encoded, headers)
    if size <= limit:
        return encoded, None
    response = str(result.get("response") or "")
    note = {"isthmus_left_out": True, "chars": len(response),
            "why": f"the CommandResult was {size} bytes, over the {limit} bytes the sink produces at most "
                   f"({MAX_REQUEST_SIZE_ENV})"}
    smaller = {**result, "response": json.dumps(note)}
    encoded = store.encode(COMMAND_RESULT, smaller)
    if record_size(key, encoded, headers) > limit:  # its ids alone are too large: the result says so, without them
        ids = dict(result.get("assigned_ids") or {})
        note["ids_left_out"] = sorted(ids)
        encoded = store.encode(COMMAND_RESULT, {**smaller, "assigned_ids": {}, "response": json.dumps(note)})
    return encoded, size
