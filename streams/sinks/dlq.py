"""Read, show and replay dead letters (``isthmus topics dlq``).

A replay writes the dead letter's original key, value and headers to its original topic, with a
``isthmus.replay`` header naming the dead letter. The original bytes are unchanged, so a replayed command
keeps its idempotency key: replaying it twice, or replaying one that had been applied after all, applies it
once. A replayed record that fails again is dead-lettered again, its reason saying it was a replay.

That is the replay *as stored*. For a command an entity flow derived, ``isthmus topics dlq replay`` asks that flow
instead to derive it again from its current state (:mod:`streams.kafka.rederive`, answered by
:mod:`streams.flows.customers.rederive`): the stored command is what the source said when it was sent.

Either way the dead-letter topic keeps a record of it beside the dead letter (the request, or a
``DeadLetterReplay`` note for a replay as stored), and a replay that fails again is a dead letter naming the one it
replayed (its ``isthmus.replay`` header): reading the topic, each dead letter carries its replays
(:class:`ReplayMark`), so ``dlq list`` tells the ones still to be dealt with from those replayed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.config.kafka import KafkaAddress, client_kwargs, kafka_settings, producer_kwargs
from streams.kafka import names
from streams.kafka.deadletters import READ_AGAIN, REPLAY_HEADER, REPLAY_NOTE, replayed_headers, value_left_out
from streams.kafka.rederive import REDERIVE_TYPE, RederiveRequest
from streams.kafka.topics import unreachable
from streams.sinks.bounded import letter_command
from streams.sinks.exceptions import DeadLetterNotFound, DeadLetterNotReplayable, DeadLetterUnreadable
from streams.sinks.records import DEAD_LETTER
from streams.sinks.topics import SINK_STAGE

READ_TIMEOUT_MS = 1000


@dataclass(frozen=True, kw_only=True)
class ReplayMark:
    """One replay of a dead letter as the dead-letter topic records it: ``way`` ``as_stored`` (``where``: the
    record it wrote), ``rederive`` (``where``: the flow asked) or ``failed_again`` (``where``: the new dead
    letter's address)."""

    way: str
    where: str
    at: datetime | None = None

    @property
    def settled(self) -> bool:
        """Whether this replay, as far as the topic says, dealt with the dead letter (it did not fail again)."""
        return self.way != "failed_again"

    def __str__(self) -> str:
        when = f" {self.at.strftime('%Y-%m-%dT%H:%M:%SZ')}" if self.at is not None else ""
        what = {"as_stored": f"replayed as stored to {self.where}", "rederive": f"re-derived by {self.where}",
                "failed_again": f"failed again: {self.where}", "settled": f"settled by {self.where}"}.get(
            self.way, self.way)
        return what + when


#: A replay and the address (partition, offset) of the dead letter it replayed.
Mark = tuple[tuple[int, int], ReplayMark]


@dataclass(frozen=True, kw_only=True)
class DeadLetterEntry:
    """One record of the dead-letter topic, decoded."""

    partition: int
    offset: int
    timestamp_ms: int
    letter: dict[str, Any]
    #: The record's value as read (a re-derive request carries it to the flow); empty: encoded from ``letter``.
    raw: bytes = b""
    #: Its replays, oldest first, as far as the records read with it say (:func:`read_dead_letters`).
    replays: tuple[ReplayMark, ...] = ()

    @property
    def pending(self) -> bool:
        """Never replayed, or its last replay failed again."""
        return not self.replays or not self.replays[-1].settled

    @property
    def status(self) -> str:
        """``pending`` (never replayed), ``replayed`` (as stored or re-derived, and not failed again since),
        ``settled`` (dealt with otherwise: by its entity flow, or by `dlq settle`) or ``failed again`` (its last
        replay is a dead letter of its own)."""
        if not self.replays:
            return "pending"
        last = self.replays[-1]
        return "failed again" if not last.settled else "settled" if last.way == "settled" else "replayed"

    def replay_of(self) -> tuple[int, int] | None:
        """The dead letter this one's record replayed (partition, offset): it failed again; None otherwise."""
        return replayed_letter((h.get("key"), h.get("value")) for h in self.letter.get("headers") or ())

    @property
    def stage(self) -> str:
        return str(self.letter["stage"])

    @property
    def reason(self) -> str:
        return str(self.letter["reason"])

    def command(self, store: SchemaStore) -> dict[str, Any] | None:
        """The original value decoded as a Command, when it is one; a sink's dead letter that left it out (too large
        to keep) gives the command's fields it kept instead (:func:`~streams.sinks.bounded.letter_command`)."""
        try:
            command = letter_command(self.letter, store)
        except CodecError:
            return None
        return dict(command) if command is not None else None

    def address(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True, kw_only=True)
class Replayed:
    """Where a replay wrote: the original record to its topic (``flow`` None), or the request that ``flow``
    derive the command again (on the dead-letter topic)."""

    entry: DeadLetterEntry
    topic: str
    partition: int
    offset: int
    flow: str | None = None


def _consumer(bootstrap_servers: KafkaAddress) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(**client_kwargs(bootstrap_servers), group_id=None, enable_auto_commit=False,
                            isolation_level="read_committed", client_id=names.client_id("isthmus-dlq"))


async def _start(client: AIOKafkaConsumer | AIOKafkaProducer, bootstrap_servers: KafkaAddress) -> None:
    try:
        await client.start()
    except KafkaConnectionError as exc:
        raise unreachable(kafka_settings(bootstrap_servers), exc) from exc


def _decode(store: SchemaStore, partition: int, offset: int, timestamp: int, value: bytes | None) -> DeadLetterEntry:
    if value is None:
        raise DeadLetterUnreadable(f"record {partition}:{offset} of the dead-letter topic has no value")
    try:
        letter = dict(store.decode(value, DEAD_LETTER).value)
    except CodecError as exc:
        raise DeadLetterUnreadable(f"record {partition}:{offset} is not a DeadLetter: {exc}") from exc
    return DeadLetterEntry(partition=partition, offset=offset, timestamp_ms=timestamp, letter=letter, raw=value)


async def read_dead_letters(bootstrap_servers: KafkaAddress, topic: str, store: SchemaStore) -> list[DeadLetterEntry]:
    """Every committed record of the dead-letter topic, oldest first per partition."""
    return (await read_dead_letters_since(bootstrap_servers, topic, store, {})).entries


@dataclass(frozen=True, kw_only=True)
class DeadLettersRead:
    """The dead letters read from ``positions`` (per partition) to ``ends``; ``from_start``: read from each
    partition's beginning, because a position given was no longer inside the topic (deleted and made again,
    records expired): what was counted before no longer holds."""

    entries: list[DeadLetterEntry]
    ends: dict[int, int]
    from_start: bool
    #: Every replay this read found, by the address of the dead letter it replayed (which may have been read
    #: before: a reader that keeps what it read applies them there).
    marks: tuple[Mark, ...] = ()


async def open_reader(bootstrap_servers: KafkaAddress) -> AIOKafkaConsumer:
    """A started consumer for :func:`read_dead_letters_since`, to keep across reads (the caller stops it)."""
    consumer = _consumer(bootstrap_servers)
    await _start(consumer, bootstrap_servers)
    return consumer


async def read_dead_letters_since(bootstrap_servers: KafkaAddress, topic: str, store: SchemaStore,
                                  positions: Mapping[int, int], *,
                                  reader: AIOKafkaConsumer | None = None) -> DeadLettersRead:
    """The committed dead letters after ``positions`` (partition -> next offset to read; a partition not named is
    read from its beginning), oldest first per partition: a reader that keeps ``ends`` reads only what is new.
    ``reader``: a consumer of :func:`open_reader` kept by the caller (a start costs more than a small read)."""
    consumer = reader if reader is not None else await open_reader(bootstrap_servers)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return DeadLettersRead(entries=[], ends={}, from_start=bool(positions))
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        from_start = any(not begins[tp] <= positions.get(tp.partition, begins[tp]) <= ends[tp] for tp in tps)
        for tp in tps:
            position = None if from_start else positions.get(tp.partition)
            if position is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, position)
        read: list[tuple[int, int, int, bytes | None]] = []
        remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=READ_TIMEOUT_MS)
            if not batches:
                remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
                continue
            for tp, records in batches.items():
                read += [(tp.partition, r.offset, r.timestamp, r.value) for r in records if r.offset < ends[tp]]
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        entries, found = letters_of(store, topic, read)
        return DeadLettersRead(entries=entries, ends={tp.partition: ends[tp] for tp in tps},
                               from_start=from_start, marks=tuple(found))
    finally:
        if reader is None:
            await consumer.stop()


def letters_of(store: SchemaStore, topic: str, records: Iterable[tuple[int, int, int, bytes | None]]) -> tuple[
        list[DeadLetterEntry], list[Mark]]:
    """The dead letters among ``records`` of the dead-letter ``topic`` (partition, offset, timestamp, value), in
    address order, each with the replays the records tell of it (a replay note, a re-derive request, a dead letter
    that failed again); and every replay found, of those letters or of others read before."""
    entries: list[DeadLetterEntry] = []
    notes: list[Mark] = []
    for partition, offset, timestamp, value in records:
        try:
            entries.append(_decode(store, partition, offset, timestamp, value))
        except DeadLetterUnreadable:
            mark = _replay_mark(store, topic, value)
            if mark is not None:
                notes.append(mark)
    found = _marks(entries, notes)
    return with_replays(entries, found), found


@dataclass(frozen=True, kw_only=True)
class LaterChanges:
    """Records with the dead letter's key that its original partition holds after it and that its stage used (not
    tombstones, not dead letters of that stage themselves): the row changed since."""

    count: int
    last_offset: int


#: Where a dead letter's original record was read: (topic, partition, offset).
Origin = tuple[str, int, int]


def origin(entry: DeadLetterEntry) -> Origin:
    """Where ``entry``'s original record was read."""
    letter = entry.letter
    return str(letter["topic"]), int(letter["partition"]), int(letter["offset"])


def replayed_origins(letters: Iterable[DeadLetterEntry]) -> dict[tuple[int, int], Origin]:
    """Per dead letter (partition, offset in the dead-letter topic), where its original record was read: a replay of
    it as stored is a copy of that record at a later offset, carrying the values of its first place."""
    return {(entry.partition, entry.offset): origin(entry) for entry in letters if entry.letter.get("topic")}


def replayed_letter(headers: Iterable[tuple[Any, Any]]) -> tuple[int, int] | None:
    """The dead letter (partition, offset) a record with these headers replays, as its :data:`REPLAY_HEADER`
    says; None when it is no replay, or the header does not read."""
    for name, value in headers:
        if name == REPLAY_HEADER and value:
            try:
                info = json.loads(bytes(value))
                return int(info["dlq_partition"]), int(info["dlq_offset"])
            except (ValueError, KeyError, TypeError):
                return None
    return None


def _copied_from(headers: Sequence[tuple[str, bytes]], replays: Mapping[tuple[int, int], Origin]) -> Origin | None:
    """Where the record a replay copied was first read (None: not a replay, or of a dead letter not known)."""
    letter = replayed_letter(headers)
    return replays.get(letter) if letter is not None else None


async def later_changes(bootstrap_servers: KafkaAddress, entries: Sequence[DeadLetterEntry], *,
                        unused: Mapping[str, Collection[Origin]] | None = None,
                        replays: Mapping[tuple[int, int], Origin] | None = None) -> dict[str, LaterChanges]:
    """Per dead letter (by address) whose original record has a key, the records with that key after it in its
    original partition that its stage used, if there are any: a change of a row (a CDC record) so followed is
    stale, since the later one carries the row's current values, and a replay as stored would send the old ones
    again. ``unused``: per stage, the records it dead-lettered itself (they count for nothing); a tombstone counts
    for nothing either (the change before it carried it), and neither does a replay of a change from before the
    dead letter's (``replays``, :func:`replayed_origins`): it is later only in the log, its values are older. Each
    original partition is read once, from the earliest such dead letter on, to its end as it is now."""
    unused = unused or {}
    wanted: dict[tuple[str, int], list[DeadLetterEntry]] = {}
    for entry in entries:
        letter = entry.letter
        if letter.get("key") and letter.get("topic"):
            wanted.setdefault((str(letter["topic"]), int(letter["partition"])), []).append(entry)
    if not wanted:
        return {}
    consumer = await open_reader(bootstrap_servers)
    found: dict[str, LaterChanges] = {}
    try:
        for (topic, partition), those in wanted.items():
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            start = min(int(e.letter["offset"]) for e in those) + 1
            if start >= end:
                continue
            consumer.seek(tp, start)
            keyed: dict[bytes, list[DeadLetterEntry]] = {}  # a row may have been dead-lettered more than once
            for entry in those:
                keyed.setdefault(bytes(entry.letter["key"]), []).append(entry)
            while await consumer.position(tp) < end:
                batch = (await consumer.getmany(tp, timeout_ms=READ_TIMEOUT_MS)).get(tp, [])
                for record in batch:
                    if record.key is None or record.value is None or record.offset >= end:
                        continue
                    copied = _copied_from(record.headers, replays) if replays else None
                    for earlier in keyed.get(record.key, ()):
                        if copied is not None and copied[:2] == (topic, partition) and (
                                copied[2] <= int(earlier.letter["offset"])):
                            continue  # a replay of the dead letter itself or of an older change of the row
                        if record.offset > int(earlier.letter["offset"]) and (
                                (topic, partition, record.offset) not in unused.get(earlier.stage, ())):
                            before = found.get(earlier.address())
                            found[earlier.address()] = LaterChanges(count=(before.count if before else 0) + 1,
                                                                    last_offset=record.offset)
    finally:
        await consumer.stop()
    return found


#: The stage of a flow's dead letters (``flow.<name>``): records of its inputs, row changes among them.
FLOW_STAGE = "flow."


def unused_changes(letters: Iterable[DeadLetterEntry]) -> dict[str, set[Origin]]:
    """Per flow stage, the records of its inputs it dead-lettered (``letters``: every dead letter of the topic)."""
    unused: dict[str, set[Origin]] = {}
    for entry in letters:
        if entry.stage.startswith(FLOW_STAGE):
            unused.setdefault(entry.stage, set()).add(origin(entry))
    return unused


async def stale_changes(bootstrap_servers: KafkaAddress, entries: Sequence[DeadLetterEntry],
                        rederive: Mapping[str, str], *,
                        letters: Sequence[DeadLetterEntry] | None = None) -> dict[str, str]:
    """Per flow dead letter that a replay as stored would send stale, why it is not replayed; the CLI's and the
    dashboard's one rule (``--stale`` / ``"stale": true`` overrides). Superseded is a change of a row after which
    the flow used a later change of that row (:func:`later_changes`; ``letters``, every dead letter of the topic,
    default ``entries``, tell the later changes it dead-lettered too): the first change of a row the flow uses after
    one it dead-lettered claims every field it binds (:mod:`streams.flows.customers.missed`), so it carried the
    row's current values of all of them."""
    changes = [e for e in entries if e.stage.startswith(FLOW_STAGE) and e.address() not in rederive]
    every = entries if letters is None else letters
    unused = unused_changes(every)
    later = (await later_changes(bootstrap_servers, changes, unused=unused, replays=replayed_origins(every))
             if changes else {})
    return {e.address(): (
        f"its row changed since: {found.count} later change(s) of it in {e.letter['topic']}[{e.letter['partition']}], "
        f"the last at offset {found.last_offset}, were used by the flow, the first of them with every field, so they "
        "carry its current values; a replay would send the old ones again (`dlq settle` settles it, --stale replays "
        "it anyway)")
        for e in changes if (found := later.get(e.address())) is not None}


#: Who settles a dead letter with :func:`settle`, as its note's ``replayed_to`` begins.
SETTLED_BY = "isthmus topics dlq settle"


@dataclass(frozen=True, kw_only=True)
class Settled:
    """A dead letter :func:`settle` marked settled, and where its note went."""

    entry: DeadLetterEntry
    reason: str
    offset: int


async def settle(bootstrap_servers: KafkaAddress, topic: str, entries: Sequence[DeadLetterEntry], *,
                 reasons: Mapping[str, str], store: SchemaStore, now: datetime | None = None) -> list[Settled]:
    """Mark each entry settled without replaying it: a ``DeadLetterReplay`` note with way ``settled`` beside it
    (as an entity flow writes when it settles one itself), keyed like it, so ``dlq list`` and the dashboard show it
    settled and no longer count it pending. ``reasons``: per address (``0:12``), why; it is kept in the note."""
    producer = AIOKafkaProducer(**producer_kwargs(bootstrap_servers), enable_idempotence=True, acks="all",
                                client_id=names.client_id("isthmus-dlq-settle"))
    await _start(producer, bootstrap_servers)
    at = now or datetime.now(UTC)
    done: list[Settled] = []
    try:
        for entry in entries:
            reason = reasons[entry.address()]
            key = entry.letter.get("key")
            note = {"dlq_topic": topic, "dlq_partition": entry.partition, "dlq_offset": entry.offset,
                    "replayed_to": f"{SETTLED_BY}: {reason}", "way": "settled", "replayed_at": at}
            meta = await producer.send_and_wait(topic, store.encode(REPLAY_NOTE, note), key=key,
                                                partition=entry.partition if key is None else None)
            done.append(Settled(entry=entry, reason=reason, offset=meta.offset))
    finally:
        await producer.stop()
    return done


def _replay_mark(store: SchemaStore, topic: str, value: bytes | None) -> Mark | None:
    """The dead letter a record of the topic that is no dead letter says was replayed, and how; None for any
    other record."""
    if value is None:
        return None
    try:
        decoded = store.decode(value)
    except CodecError:
        return None
    body = decoded.value
    if decoded.schema == REDERIVE_TYPE:
        request = RederiveRequest.from_avro(body)
        if request.dlq_topic in ("", topic):
            return (request.dlq_partition, request.dlq_offset), ReplayMark(way="rederive", where=request.flow,
                                                                           at=request.requested_at)
    elif decoded.schema == REPLAY_NOTE and body.get("dlq_topic") in ("", topic):
        return (int(body["dlq_partition"]), int(body["dlq_offset"])), ReplayMark(
            way=str(body.get("way") or "as_stored"), where=str(body.get("replayed_to") or "?"),
            at=body.get("replayed_at"))
    return None


def _marks(entries: Sequence[DeadLetterEntry], notes: Sequence[Mark]) -> list[Mark]:
    """The replays ``notes`` record, and those that ``entries`` record by failing again."""
    found = list(notes)
    for entry in entries:
        replayed = entry.replay_of()
        if replayed is not None:
            found.append((replayed, ReplayMark(way="failed_again", where=entry.address(),
                                               at=datetime.fromtimestamp(entry.timestamp_ms / 1000, UTC))))
    return found


def replays_by_address(marks: Iterable[Mark]) -> dict[tuple[int, int], tuple[ReplayMark, ...]]:
    """``marks`` gathered per dead letter, oldest first."""
    found: dict[tuple[int, int], list[ReplayMark]] = {}
    for address, mark in marks:
        found.setdefault(address, []).append(mark)
    never = datetime.min.replace(tzinfo=UTC)
    return {address: tuple(sorted(those, key=lambda m: m.at or never)) for address, those in found.items()}


def with_replays(entries: Iterable[DeadLetterEntry], marks: Iterable[Mark]) -> list[DeadLetterEntry]:
    """``entries`` in address order, each with the replays ``marks`` record of it."""
    found = replays_by_address(marks)
    return sorted((dataclasses.replace(e, replays=found[(e.partition, e.offset)])
                   if (e.partition, e.offset) in found else e for e in entries),
                  key=lambda e: (e.partition, e.offset))


def parse_address(text: str) -> tuple[int, int]:
    """``12`` (partition 0) or ``1:12`` -> (partition, offset)."""
    partition, _, offset = text.rpartition(":")
    try:
        return (int(partition) if partition else 0), int(offset)
    except ValueError:
        raise DeadLetterNotFound(f"{text!r} is not an offset; give OFFSET or PARTITION:OFFSET, as "
                                 "`isthmus topics dlq list` shows them") from None


def pick(entries: Sequence[DeadLetterEntry], addresses: Sequence[str], topic: str) -> list[DeadLetterEntry]:
    by_address = {(e.partition, e.offset): e for e in entries}
    picked = []
    for text in addresses:
        address = parse_address(text)
        if address not in by_address:
            raise DeadLetterNotFound(f"{topic} has no dead letter at {address[0]}:{address[1]}; "
                                     "`isthmus topics dlq list` shows the offsets")
        picked.append(by_address[address])
    return picked


def _refuse_left_out_values(entries: Sequence[DeadLetterEntry], topic: str) -> None:
    """Before anything is replayed: a dead letter whose original value was left out (too large to keep,
    :func:`~streams.kafka.deadletters.without_value`) would be replayed as a record without a value (a tombstone)."""
    left_out = [(e, size) for e in entries if (size := value_left_out(e.letter)) is not None]
    if not left_out:
        return
    named = "; ".join(f"{e.address()} (the value of {_origin_text(e)}, {size} bytes)" for e, size in left_out)
    commands = any(e.stage.startswith(SINK_STAGE) for e, _ in left_out)
    raise DeadLetterNotReplayable(
        f"{topic}: dead letter(s) {named} do not keep their original value, which was too large for them: a replay "
        f"as stored would write the record without it. Leave them out of the replay; the record is still in its "
        f"topic while that keeps it; {READ_AGAIN}"
        + (" (a command an entity flow derives is replayed by asking that flow to derive it again, which needs no "
           "stored value: here no entity flow claims it, or --as-stored was given)" if commands else "")
        + "; then settle them (`isthmus topics dlq settle OFFSET`)")


def _origin_text(entry: DeadLetterEntry) -> str:
    """``topic[partition]@offset`` of ``entry``'s original record."""
    topic, partition, offset = origin(entry)
    return f"{topic}[{partition}]@{offset}"


def replay_headers(entry: DeadLetterEntry, topic: str, now: datetime | None = None) -> list[tuple[str, bytes]]:
    return replayed_headers(entry.letter, topic, entry.partition, entry.offset, now or datetime.now(UTC))


async def replay(bootstrap_servers: KafkaAddress, topic: str, entries: Sequence[DeadLetterEntry], *,
                 rederive: Mapping[str, str] | None = None, store: SchemaStore | None = None) -> list[Replayed]:
    """Re-produce each entry's original record to its original topic, in the order given; or, for an entry whose
    address (``0:12``) ``rederive`` maps to an entity flow, ask that flow to derive its command again from its
    current state (a :class:`~streams.kafka.rederive.RederiveRequest` on ``topic``, keyed like the dead letter;
    ``store`` encodes it)."""
    rederive = rederive or {}
    if rederive and store is None:
        raise ValueError("a re-derive request is encoded with the schemas: pass store")
    _refuse_left_out_values([e for e in entries if e.address() not in rederive], topic)
    producer = AIOKafkaProducer(**producer_kwargs(bootstrap_servers), enable_idempotence=True, acks="all",
                                client_id=names.client_id("isthmus-dlq-replay"))
    await _start(producer, bootstrap_servers)
    done: list[Replayed] = []
    try:
        for entry in entries:
            letter = entry.letter
            key = letter.get("key")
            flow = rederive.get(entry.address())
            if flow is not None and store is not None:
                request = RederiveRequest(flow=flow, dlq_topic=topic, dlq_partition=entry.partition,
                                          dlq_offset=entry.offset, requested_at=datetime.now(UTC),
                                          dead_letter=entry.raw or store.encode(DEAD_LETTER, letter))
                meta = await producer.send_and_wait(topic, store.encode(REDERIVE_TYPE, request.to_avro()), key=key,
                                                    partition=entry.partition if key is None else None,
                                                    headers=request.headers())
            else:
                # stamped before it goes: a replay that fails again is dead-lettered at once, and its mark must
                # sort after this one (:func:`replays_by_address` orders a letter's replays by time)
                sent_at = datetime.now(UTC)
                meta = await producer.send_and_wait(letter["topic"], letter.get("value"), key=key,
                                                    partition=letter["partition"] if key is None else None,
                                                    headers=replay_headers(entry, topic, sent_at))
                if store is not None:  # the note beside the dead letter, so a list tells it replayed
                    note = {"dlq_topic": topic, "dlq_partition": entry.partition, "dlq_offset": entry.offset,
                            "replayed_to": f"{meta.topic}[{meta.partition}]@{meta.offset}",
                            "replayed_at": sent_at}
                    await producer.send_and_wait(topic, store.encode(REPLAY_NOTE, note), key=key,
                                                 partition=entry.partition if key is None else None)
            done.append(Replayed(entry=entry, topic=meta.topic, partition=meta.partition, offset=meta.offset,
                                 flow=flow))
    finally:
        await producer.stop()
    return done
