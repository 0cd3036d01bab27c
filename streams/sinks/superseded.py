"""When a sink's dead letter is superseded: a later command of its entity was applied and wrote what it carried.

A target refused a create (a name too long, a body too large); the user fixed the source row, the entity flow sent
the create again with the fixed data, and the target applied it. The refused create's dead letter, and those of
the updates queued behind it (a look-up that found no record to update), need nothing more then: a
replay would send older values, or what the target holds already. ``isthmus topics dlq settle --superseded``
settles them by this rule, as it settles a flow's dead-lettered change of a row by the flow's own
(:func:`streams.sinks.dlq.stale_changes`); the status it leaves is the one every reader computes
(:attr:`~streams.sinks.dlq.DeadLetterEntry.status`).

A dead letter of stage ``sink.<system>`` whose value is a Command ``C`` is superseded by later commands
``L1 … Ln`` (one or more) when all of these hold:

1. each ``L`` is about the same thing: the same target, entity type and entity key, and a payload of the same type
   (a field's name means something only within its payload type: an account's ``name`` is not a link's);
2. each ``L`` is later: created after ``C`` (``created_at``). A replay as stored re-sends ``C``'s own bytes, and an
   older command re-sent is older still: neither is later. A re-derived command is new, made from the entity's
   state when the replay asked for it. ``L``'s result then comes after ``C``'s dead letter, but for the dead letter
   of a replay of ``C`` that failed after ``L`` was applied: that one is superseded too, what it would send being
   older than ``L``.
3. each ``L`` was applied: a CommandResult of its command id on the system's results topic with a 2xx status
   (:func:`~streams.sinks.records.result_applied`; a business refusal a route declares is no write), whatever its
   operation;
4. between them they wrote every field ``C`` carried (:func:`fields`): each of ``C``'s fields was overwritten by a
   later applied command, so a replay of ``C`` would send only older values. A command whose fields are unknown (a
   ``deactivate`` or ``cancel`` naming none) writes none here.

The reason names each ``L`` (its operation, command id, offset on the command topic, when it was created, where its
result is, and the fields it wrote): the oldest single one that wrote them all when there is one, else those needed,
oldest-first (each writing a field of ``C``'s none named before it did).

So a refused create is superseded by a later applied create (of the same payload type: the same fields), by updates
that wrote all its fields between them, or by both (a create of the record's own fields and an update of a field
added later); an update dead-lettered behind it, by later applied updates of its fields or a create that carried
them. An applied update means the target held the record (an update that finds none is a ``LookupNotFound``
dead letter, not a result), so a refused create whose every field later updates wrote is moot as well. A dead
letter with a field no later applied command wrote stays pending. "Fields" are the payload's own, as Isthmus names
them; what of them goes out is the target file's routes' (a create route may leave a field to the target's
default), for ``C`` as for ``L``.

Not covered, as the dead-letter tool cannot tell it: an entity the flow has since *ended* where the target holds
nothing of it (a create refused, then the entity's key fixed back at the source). The flow sends the target no
command for an entity it never created there, so the command and results topics, which are all this reads, show
nothing after the dead letter; such a letter stays pending, to settle with ``--reason``.

A pending dead letter is also superseded by a later *pending* dead letter of the same refusal
(:func:`repeated_letters`): a snapshot, or any re-decision, sends a create the target refused for good again, and it
is refused again. The newest letter stays pending (what is left to replay or settle); the older ones are settled
naming it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.config.kafka import KafkaAddress
from streams.sinks import dlq
from streams.sinks.records import COMMAND_RESULT, CommandUnusable, SinkCommand, decode_command, result_applied
from streams.sinks.topics import SINK_STAGE, results_topic

#: The operations that write a whole record: every field of their payload.
WHOLE = frozenset({"create", "upsert"})

#: How much earlier than a dead-lettered command a later command's or result's record may be stamped (the flows',
#: the sinks' and the brokers' clocks differ): the topics are read from the oldest such command less this.
CLOCK_SKEW = timedelta(minutes=5)

#: The carried fields a reason names (a create carries the whole record).
SHOWN_FIELDS = 6

#: How much of a later dead letter's reason the note of one it repeats quotes.
REASON_SHOWN = 100


def fields(command: SinkCommand) -> frozenset[str] | None:
    """The payload fields ``command`` carries, which it writes when applied: every top-level field of the payload
    for a ``create`` or an ``upsert`` (a whole record) and for an ``update`` naming no ``changed_fields`` (a full
    write); the ``changed_fields`` of an ``update`` otherwise (a route with ``only_changed`` sends only those) and
    of a ``deactivate`` or ``cancel`` (the state field it changes). None for a ``deactivate`` or ``cancel`` naming
    none: nothing says what a later command would have to write."""
    if command.operation in WHOLE or (command.operation == "update" and not command.changed_fields):
        return frozenset(command.payload)
    return frozenset(command.changed_fields) or None


@dataclass(frozen=True, kw_only=True)
class AppliedCommand:
    """A command a sink applied, where its CommandResult is (``isthmus.results.erp[1]@42``) and where the command
    itself is (``isthmus.commands.erp[1]@40``; empty when not known)."""

    command: SinkCommand
    result: str
    at: str = ""


#: What a command is about: target, entity type, entity key, payload type (rule 1).
Subject = tuple[str, str, str, str]


def subject(command: SinkCommand) -> Subject:
    return command.target, command.entity_type, command.entity_key, command.payload_type


def superseding(dead: SinkCommand, applied: Iterable[AppliedCommand]) -> tuple[AppliedCommand, ...]:
    """The later applied commands of ``applied`` that supersede the dead-lettered command ``dead`` (the module's
    rule), oldest first; empty when they do not. The oldest single command that wrote every field ``dead`` carried
    when there is one; else those needed oldest-first, each writing a field of ``dead``'s none named before it did."""
    carried = fields(dead)
    if not carried or dead.created_at is None:
        return ()
    later = sorted((a for a in applied if subject(a.command) == subject(dead) and a.command.created_at is not None
                    and a.command.created_at > dead.created_at),
                   key=lambda a: (a.command.created_at, a.result))
    whole = next((a for a in later if carried <= (fields(a.command) or frozenset())), None)
    if whole is not None:
        return (whole,)
    named: list[AppliedCommand] = []
    left = set(carried)
    for a in later:
        if left & (fields(a.command) or frozenset()):
            named.append(a)
            left -= fields(a.command) or frozenset()
        if not left:
            return tuple(named)
    return ()


def _named(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed) if len(listed) <= SHOWN_FIELDS else (
        f"{', '.join(listed[:SHOWN_FIELDS])}, … {len(listed)} in all")


def _later(by: AppliedCommand) -> str:
    later = by.command
    created = later.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if later.created_at else "?"
    at = f" ({by.at})" if by.at else ""
    return f"{later.operation} {later.command_id} of {later.entity_key}{at}, created {created}"


def reason(dead: SinkCommand, by: Sequence[AppliedCommand]) -> str:
    """Why ``dead``'s letter needs no replay: the later commands that wrote its fields (:func:`superseding`), each by
    its command id, offset and result."""
    carried = fields(dead) or frozenset()
    if len(by) == 1:
        return (f"superseded by {_later(by[0])} after this {dead.operation} and applied "
                f"({by[0].result}), which wrote every field it carried ({_named(carried)})")
    parts = "; ".join(f"{_later(a)}, applied ({a.result}), wrote {_named(carried & (fields(a.command) or set()))}"
                      for a in by)
    return (f"superseded by {len(by)} later commands of {dead.entity_key}, created after this {dead.operation} and "
            f"applied, which wrote between them every field it carried ({_named(carried)}): {parts}")


def dead_command(entry: dlq.DeadLetterEntry, store: SchemaStore) -> SinkCommand | None:
    """The command a sink's dead letter holds; None for any other dead letter, or one with no key (commands are
    keyed by entity, and the topics are searched by that key)."""
    if not entry.stage.startswith(SINK_STAGE) or not entry.letter.get("key"):
        return None
    try:
        return decode_command(store, entry.letter.get("value"))
    except CommandUnusable:
        return None


async def superseded_commands(bootstrap_servers: KafkaAddress, entries: Sequence[dlq.DeadLetterEntry],
                              store: SchemaStore, *, results: str | None = None) -> dict[str, str]:
    """Per sink dead letter of ``entries`` (by address) that later applied commands superseded, why (:func:`reason`).
    Reads, from the oldest dead-lettered command's time on, its entity's commands in the partitions of the command
    topic the letters came from, and the results of each system (``results``: the topic, when the sink writes them
    elsewhere than ``isthmus.results.<system>``)."""
    dead: dict[str, SinkCommand] = {}
    for entry in entries:
        command = dead_command(entry, store)
        if command is not None and command.created_at is not None:
            dead[entry.address()] = command
    if not dead:
        return {}
    by_address = {e.address(): e for e in entries}
    since = min(c.created_at for c in dead.values() if c.created_at is not None) - CLOCK_SKEW
    since_ms = int(since.timestamp() * 1000)
    keys = {bytes(by_address[a].letter["key"]) for a in dead}
    subjects = {subject(c) for c in dead.values()}
    partitions: dict[str, set[int]] = {}
    for address in dead:
        letter = by_address[address].letter
        partitions.setdefault(str(letter["topic"]), set()).add(int(letter["partition"]))
    result_topics = sorted({t for c in dead.values() if (t := _results_topic(c.target, results)) is not None})
    consumer = await dlq.open_reader(bootstrap_servers)
    try:
        later: dict[str, tuple[SinkCommand, str]] = {}
        for topic, numbers in partitions.items():
            for record in await _keyed_since(consumer, topic, since_ms, keys, partitions=numbers):
                try:
                    command = decode_command(store, record.value)
                except CommandUnusable:
                    continue
                if subject(command) in subjects:
                    later.setdefault(command.command_id, (command, f"{topic}[{record.partition}]@{record.offset}"))
        applied: dict[str, AppliedCommand] = {}
        for topic in result_topics:
            for record in await _keyed_since(consumer, topic, since_ms, keys):
                result = _result(store, record.value)
                if result is None or not result_applied(result):
                    continue
                command_id = str(result.get("command_id"))
                if command_id in later and command_id not in applied:
                    command, at = later[command_id]
                    applied[command_id] = AppliedCommand(command=command, at=at,
                                                         result=f"{topic}[{record.partition}]@{record.offset}")
    finally:
        await consumer.stop()
    return {address: reason(command, by) for address, command in dead.items()
            if (by := superseding(command, applied.values()))}


def _results_topic(system: str, given: str | None) -> str | None:
    if given:
        return given
    try:
        return results_topic(system)
    except ValueError:  # no system's name: no sink wrote its results anywhere
        return None


def _result(store: SchemaStore, value: bytes | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    try:
        return dict(store.decode(value, COMMAND_RESULT).value)
    except CodecError:
        return None


async def _keyed_since(consumer: AIOKafkaConsumer, topic: str, since_ms: int, keys: Collection[bytes], *,
                       partitions: Collection[int] | None = None) -> list[Any]:
    """The committed records of ``topic`` (of ``partitions``, default all) from the first stamped at ``since_ms`` or
    later to its end as it is now, whose key is one of ``keys``; none when the topic does not exist."""
    known = consumer.partitions_for_topic(topic)
    if not known:  # the consumer's metadata covers the topics it was assigned so far: ask for every topic's
        known = (await consumer._client.fetch_all_metadata()).partitions_for_topic(topic)
    tps = [TopicPartition(topic, p) for p in sorted(known or ()) if partitions is None or p in partitions]
    if not tps:
        return []
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
    for tp in tps:
        start = starts.get(tp)
        consumer.seek(tp, start.offset if start is not None else ends[tp])
    found: list[Any] = []
    remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=dlq.READ_TIMEOUT_MS)
        for tp, records in batches.items():
            found += [r for r in records if r.offset < ends[tp] and r.value is not None and r.key in keys]
        remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    return found


#: What a sink's dead letter refused: the command's subject (rule 1) and operation. A later pending dead letter of
#: the same refusal (a snapshot, or any re-decision, sent the create again and the target refused it again) is its
#: current state.
Refusal = tuple[Subject, str]


def _letter_order(entry: dlq.DeadLetterEntry, command: SinkCommand) -> tuple[Any, ...]:
    """Oldest first: by the command's ``created_at`` (a replay as stored of an older command is older still), then
    by when it was dead-lettered (a replay that failed again comes after the letter it replayed)."""
    return command.created_at, entry.timestamp_ms, entry.partition, entry.offset


def repeated_letters(entries: Iterable[dlq.DeadLetterEntry], store: SchemaStore) -> dict[str, dlq.DeadLetterEntry]:
    """Per pending sink dead letter of ``entries`` (by address) that a later pending one repeats, that later one:
    the newest pending dead letter of the same refusal (:data:`Refusal`), later by :func:`_letter_order`, whose
    command carries every field the older one's carried (:func:`fields`; a create's are its payload type's, so the
    newest create of an entity repeats all its older ones). The newest of each refusal repeats nothing: it is what
    is left to replay or settle."""
    refusals: dict[Refusal, list[tuple[dlq.DeadLetterEntry, SinkCommand]]] = {}
    for entry in entries:
        command = dead_command(entry, store) if entry.pending else None
        if command is not None and command.created_at is not None:
            refusals.setdefault((subject(command), command.operation), []).append((entry, command))
    repeated: dict[str, dlq.DeadLetterEntry] = {}
    for letters in refusals.values():
        letters.sort(key=lambda pair: _letter_order(*pair))
        for at, (entry, command) in enumerate(letters):
            carried = fields(command) or frozenset()
            newer = next((e for e, c in reversed(letters[at + 1:]) if carried <= (fields(c) or frozenset())), None)
            if newer is not None:
                repeated[entry.address()] = newer
    return repeated


def repeated_reason(newer: dlq.DeadLetterEntry, store: SchemaStore) -> str:
    """Why a dead letter that ``newer`` repeats needs no replay of its own (:func:`repeated_letters`)."""
    command = dead_command(newer, store)
    what = (f"this {command.operation} of {command.entity_key} (command {command.command_id})" if command is not None
            else "this command")
    refused = newer.reason if len(newer.reason) <= REASON_SHOWN else f"{newer.reason[:REASON_SHOWN - 1]}…"
    return (f"superseded by dead letter {newer.address()}, a later refusal of {what}, still pending: replay or "
            f"settle that one ({refused})")

