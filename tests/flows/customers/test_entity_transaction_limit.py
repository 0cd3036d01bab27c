"""A source transaction of more changes than the flow's ``transaction_limit`` is folded in parts of that many
(a bulk load committed at once is not held whole in memory) and decided at its end, once per entity, whatever part
brought what (:mod:`streams.flows.customers.deferred`); the parts are counted, and the transactions committed
after it still wait for its last part."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from customer_events import decode_commands, decode_topic
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems
from support.tx_events import one_transaction
from test_entity_section import REFERENCE, _line, _load

from reference.topics import CANONICAL_CUSTOMERS
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.flows.canonical.lineage import Lineage
from streams.flows.customers import CustomerFlow, deferred
from streams.flows.customers import flow as customer_flow
from streams.flows.customers.config import TRANSACTION_LIMIT
from streams.flows.customers.deferred import DECIDED_COUNT, DEFERRED, DEFERRED_COUNT
from streams.flows.customers.flow import ENTITIES
from streams.flows.engine.api import Incoming
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import partitioned
from streams.flows.engine.stores import MemoryStore
from streams.flows.exceptions import FlowFileError
from streams.flows.orders.txjoin import ENDED, SPLIT
from streams.mapping import RecordMapping

pytestmark = pytest.mark.unit


def _limited(mappings: dict[str, RecordMapping], schemas: SchemaStore, limit: int) -> Harness:
    config = CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems()).config
    assert config.transaction_limit == TRANSACTION_LIMIT  # the flow file leaves it out: the default
    flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems(), clock=lambda: SETTLED_AT,
                        config=dataclasses.replace(config, transaction_limit=limit))
    return Harness(flow=flow, schemas=schemas)


def _created(sent: list) -> list[str]:  # type: ignore[type-arg]
    return [s.key for s in sent if s.route == ("Account", "create")]


def _join(harness: Harness) -> dict[str, object]:
    """What the join holds of transactions (not the mark of the latest END it handled)."""
    return {k: v for k, v in harness.run.context.memory["tx-crm"].items() if k != ENDED}


def _held(harness: Harness) -> list[str]:
    return sorted(k for k in _join(harness) if k.startswith("ev:"))


def _ended(harness: Harness, end: tuple[str, bytes | None, bytes | None]) -> list:  # type: ignore[type-arg]
    """Feed a transaction's END, then tick as the engine does while the flow says it is busy: what was sent."""
    start = len(harness.emitted)
    harness._feed([end])
    for _ in range(100):
        if not harness.run.tick(read_to_end=()).busy:
            break
    sent = decode_commands(harness.emitted[start:], harness.schemas)
    harness.outbox += [s for s in sent if s not in harness.outbox]
    return sent


def _table_by_table(harness: Harness, numbers: list[str]) -> list[tuple[str, bytes | None, bytes | None]]:
    """The initial sync's shape, as one transaction with its END last: every customer, then a contact of each,
    then an address of each."""
    systems = harness.systems
    return one_transaction([systems.crm_create(n, name=f"Bulk {n}") for n in numbers]
                           + [systems.crm_contact(n, email=f"{n.lower()}@example.com") for n in numbers]
                           + [systems.crm_address(n, city=f"City {n}") for n in numbers])


def _deferred(harness: Harness) -> dict[str, object]:
    return dict(harness.run.context.memory[DEFERRED].items())


def test_a_transaction_past_the_limit_is_folded_in_parts_and_decided_at_its_end(
        mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    numbers = [f"C-4200{n:02d}" for n in range(5)]
    *changes, end = one_transaction([systems.crm_create(n, name=f"Bulk {n}") for n in numbers])
    assert harness._feed(changes[:1]) == [] and len(_held(harness)) == 1
    assert harness._feed(changes[1:2]) == []  # the limit reached: folded before the END, not decided
    assert _held(harness) == [] and harness.stored(numbers[0]) is not None
    assert harness._feed(changes[2:4]) == []
    assert harness._feed(changes[4:]) == [] and len(_held(harness)) == 1  # the last part waits for the END
    assert sorted(_created(_ended(harness, end))) == numbers  # every entity of every part, decided once
    counts = harness.run.context.counts
    assert counts[SPLIT] == 1  # once per transaction, not per part
    assert counts[DEFERRED_COUNT] == 4 and counts[DECIDED_COUNT] == 4
    assert _join(harness) == {"queue": {"txs": []}}  # nothing left of it
    assert _deferred(harness) == {}
    assert harness.dead_letters == []


def test_the_transactions_net_effect_is_sent_once_whatever_part_brought_it(mappings: dict[str, RecordMapping],
                                                                          schemas: SchemaStore) -> None:
    harness = _limited(mappings, schemas, 3)
    systems = harness.systems
    records = [systems.crm_create("C-420100", name="Acme"), systems.crm_edit("C-420100", name="Acme 2"),
               systems.crm_edit("C-420100", name="Acme 3"), systems.crm_edit("C-420100", name="Acme 4")]
    *changes, end = one_transaction(records)
    assert harness._feed(changes[:3]) == []
    (created,) = [s for s in harness._feed([changes[3], end]) if s.route[0] == "Account"]
    assert created.route == ("Account", "create") and created.payload["name"] == "Acme 4"
    assert not [s for s in harness.settle() if s.route == ("Account", "update")]


def test_a_bulk_load_table_by_table_sends_each_customer_once_with_what_later_parts_brought(
        mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    """The initial sync's shape: a ``COPY`` of every customer, then of every contact, then of every address, in
    one transaction; each part holds one table's rows. Each customer is created once, with the billing address
    a later part brought."""
    harness = _limited(mappings, schemas, 3)
    numbers = [f"C-4206{n:02d}" for n in range(4)]
    *changes, end = _table_by_table(harness, numbers)
    assert harness._feed(changes) == []  # three parts of three, folded; the last three wait for the END
    sent = [s for s in _ended(harness, end) if s.route[0] == "Account"]
    assert sorted(s.key for s in sent) == numbers and {s.route for s in sent} == {("Account", "create")}
    for created in sent:
        assert created.payload["billing_address"]["city"] == f"City {created.key}"
    assert not [s for s in harness.settle() if s.route == ("Account", "update")]


def test_a_bulk_load_publishes_each_canonical_customer_once_at_its_end_with_every_part(
        mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    """The canonical topic never shows half of a source transaction: the parts fold, but the entities they
    touched are published where they are decided, once each, with the contacts and addresses later parts
    brought (before, once per batch that folded a part of them: three times per customer in a bulk load)."""
    harness = _limited(mappings, schemas, 3)
    numbers = [f"C-4210{n:02d}" for n in range(4)]
    *changes, end = _table_by_table(harness, numbers)
    for one in changes:  # a batch per change: every part's batch ends before the END arrives
        harness._feed([one])
    assert decode_topic(harness.emitted, CANONICAL_CUSTOMERS, schemas) == []
    _ended(harness, end)
    while _deferred(harness):
        harness.run.tick(read_to_end=())
    published = decode_topic(harness.emitted, CANONICAL_CUSTOMERS, schemas)
    assert sorted(r["customer_number"] for r in published) == numbers  # each once
    for record in published:
        number = record["customer_number"]
        assert [c["email"] for c in record["contacts"]] == [f"{number.lower()}@example.com"]
        assert record["billing_address"]["city"] == f"City {number}"
    # Each carries the lineage of its last change, the address, also the one whose address came in a part
    # before the last (its decision kept that change's lineage: the record itself was gone by then).
    lineages = [Lineage.from_headers(e.headers) for e in harness.emitted if e.topic == CANONICAL_CUSTOMERS]
    assert [lineage.table for lineage in lineages] == ["addresses"] * len(numbers)
    assert len({lineage.change for lineage in lineages}) == len(numbers)


def test_decisions_left_past_the_limit_are_taken_at_the_next_ticks(mappings: dict[str, RecordMapping],
                                                                   schemas: SchemaStore,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The end of a transaction decides at most the flow's limit of entities (whole chunks); the flow's tick
    decides the rest, asking the engine to tick again at once while some are left."""
    monkeypatch.setattr(deferred, "CHUNK", 1)
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    numbers = [f"C-4207{n:02d}" for n in range(5)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    assert harness._feed(changes) == []
    at_end = _created(harness._feed([end]))
    assert len(at_end) == 3  # the last part's own entity, and two (two chunks of one: the limit) left by the parts
    assert harness.run.tick(read_to_end=()).busy is False  # the two left are decided: nothing more
    later = _created(decode_commands(harness.emitted, harness.schemas))
    assert sorted(later) == numbers  # every entity once, across the END and the tick
    assert _deferred(harness) == {} and harness.run.tick(read_to_end=()).busy is False


def test_a_batch_decides_at_most_its_budget_of_entities_below_a_higher_limit(
        mappings: dict[str, RecordMapping], schemas: SchemaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each decision's state and output stay in memory until the batch commits: a batch decides at most
    ``DECISIONS_PER_BATCH`` deferred entities, however many changes the flow's limit lets a part fold."""
    monkeypatch.setattr(deferred, "CHUNK", 1)
    monkeypatch.setattr(customer_flow, "DECISIONS_PER_BATCH", 2)
    harness = _limited(mappings, schemas, 4)
    systems = harness.systems
    numbers = [f"C-4211{n:02d}" for n in range(11)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    assert harness._feed(changes) == []  # two parts of four folded and deferred; the last three wait for the END
    assert len(_created(harness._feed([end]))) == 2  # the last part too is past the budget: left with the rest
    ticks = [len(_created(_ticked(harness))) for _ in range(6)]
    assert ticks == [2, 2, 2, 2, 1, 0] and sorted(_created(decode_commands(harness.emitted, schemas))) == numbers
    assert _deferred(harness) == {} and harness.dead_letters == []


def _ticked(harness: Harness) -> list:  # type: ignore[type-arg]
    start = len(harness.emitted)
    harness.run.tick(read_to_end=())
    return decode_commands(harness.emitted[start:], harness.schemas)


def test_a_tick_that_leaves_decisions_says_it_is_busy(mappings: dict[str, RecordMapping], schemas: SchemaStore,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deferred, "CHUNK", 1)
    harness = _limited(mappings, schemas, 1)
    systems = harness.systems
    numbers = [f"C-4208{n:02d}" for n in range(4)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    harness._feed(changes)  # four parts of one, each reaching the limit: the END's own last part is empty
    assert len(_created(harness._feed([end]))) == 1  # one chunk of one entity: the limit
    assert harness.run.tick(read_to_end=()).busy is True  # one more decided, two still left
    assert harness.run.tick(read_to_end=()).busy is True
    assert harness.run.tick(read_to_end=()).busy is False
    assert sorted(_created(decode_commands(harness.emitted, harness.schemas))) == numbers


def test_a_later_transaction_waits_for_the_last_part_of_an_earlier_one(mappings: dict[str, RecordMapping],
                                                                         schemas: SchemaStore) -> None:
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    *bulk, bulk_end = one_transaction([systems.crm_create(f"C-42020{n}", name="Bulk") for n in range(3)])
    *later, later_end = one_transaction([systems.crm_contact("C-420200", first_name="Ann")])
    # The bulk's END first (its changes on another table's topic than the later one's), then its first part.
    assert harness._feed([bulk_end, *bulk[:2]]) == []
    assert harness._feed([*later, later_end]) == []  # committed after the bulk: waits for its last part
    assert len(_join(harness)["queue"]["txs"]) == 2 and "Ann" not in str(harness.stored("C-420200"))
    assert sorted(_created(harness._feed(bulk[2:]))) == ["C-420200", "C-420201", "C-420202"]
    assert _join(harness) == {"queue": {"txs": []}} and "Ann" in str(harness.stored("C-420200"))


def test_without_reaching_the_limit_a_transaction_is_held_whole(harness: Harness) -> None:
    systems = harness.systems
    *changes, end = one_transaction([systems.crm_create(f"C-42030{n}", name="Whole") for n in range(3)])
    assert harness._feed(changes) == []
    assert len(_created(harness._feed([end]))) == 3 and SPLIT not in harness.run.context.counts


def test_by_default_a_bulk_load_past_a_batch_is_folded_in_parts(harness: Harness) -> None:
    """The default limit is one batch of the engine's records: a ``COPY`` of 700 customers with a contact and an
    address each (2,100 changes) is not held whole, and each customer is still created once, with its address."""
    numbers = [f"C-43{n:04d}" for n in range(700)]
    *changes, end = _table_by_table(harness, numbers)
    assert len(changes) > TRANSACTION_LIMIT
    assert harness._feed(changes) == []  # the first part folded, the rest held for the END
    assert len(_held(harness)) == len(changes) - TRANSACTION_LIMIT
    sent = [s for s in _ended(harness, end) if s.route[0] == "Account"]
    assert sorted(s.key for s in sent) == numbers and {s.route for s in sent} == {("Account", "create")}
    assert all(s.payload["billing_address"]["city"] == f"City {s.key}" for s in sent)
    assert harness.run.context.counts[SPLIT] == 1 and harness.dead_letters == []


@pytest.mark.parametrize("value", ["0", "many", "true"])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused_with_line_and_fix(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore, value: str) -> None:
    text = REFERENCE.replace("  origin: crm", f"  origin: crm\n  transaction_limit: {value}")
    with pytest.raises(FlowFileError) as raised:
        _load(tmp_path, text, mappings, schemas)
    (problem,) = [p for p in raised.value.problems if p.field == "entity.transaction_limit"]
    assert problem.line == _line(text, "transaction_limit:") and "at least 1" in problem.message
    assert f"transaction_limit: {TRANSACTION_LIMIT}" in problem.fix


def test_a_partitioned_flow_splits_in_its_keying_stage_and_decides_the_same(mappings: dict[str, RecordMapping],
                                                                              schemas: SchemaStore) -> None:
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    numbers = [f"C-4204{n:02d}" for n in range(3)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    laid = partitioned(harness.flow.spec(), 3)
    stage = LocalRun(laid.stage)
    asyncio.run(stage.feed([stage.record(t, k, v) for t, k, v in changes[:2]]))
    assert {e.key for e in stage.context.emitted} == {n.encode() for n in numbers[:2]}  # the first part, routed
    asyncio.run(stage.feed([stage.record(t, k, v) for t, k, v in [*changes[2:], end]]))
    assert stage.context.counts[SPLIT] == 1
    flow = LocalRun(laid.flow)
    asyncio.run(flow.feed([Incoming(topic=e.topic, partition=0, offset=i, key=e.key, value=e.value,
                                    timestamp_ms=0, headers=e.headers)
                           for i, e in enumerate(stage.context.emitted)]))
    sent = decode_commands(flow.context.emitted, harness.schemas)
    assert sorted(s.key for s in sent if s.route == ("Account", "create")) == numbers
    assert flow.context.dead_letters == []


def test_changes_held_past_a_lowered_limit_go_a_part_of_that_many_at_a_time(mappings: dict[str, RecordMapping],
                                                                             schemas: SchemaStore) -> None:
    """A join state holding more than the limit (written under a larger one, or none) is not released whole."""
    harness = _limited(mappings, schemas, 10)
    systems = harness.systems
    numbers = [f"C-4205{n:02d}" for n in range(6)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    assert harness._feed(changes[:4]) == [] and len(_held(harness)) == 4
    harness.flow.transactions.limit = 2  # the worker started again with a lower limit over that state
    harness.flow.transactions._joins.clear()
    assert harness._feed(changes[4:5]) == []  # 5 held: the first 2 go (folded), 3 stay
    assert len(_held(harness)) == 3 and harness.stored(numbers[0]) is not None
    assert harness._feed(changes[5:]) == [] and len(_held(harness)) == 2
    assert sorted(_created(harness._feed([end]))) == numbers
    assert _join(harness) == {"queue": {"txs": []}}


def test_a_deferred_decision_that_fails_is_dead_lettered_alone_and_the_state_kept(
        mappings: dict[str, RecordMapping], schemas: SchemaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    numbers = [f"C-4209{n:02d}" for n in range(3)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    encode = harness.flow._encode_commands

    def refuse_the_first(commands: list) -> list:  # type: ignore[type-arg]
        if any(c.entity_key == numbers[0] for c in commands):
            raise CodecError("the command does not fit its schema")
        return encode(commands)

    monkeypatch.setattr(harness.flow, "_encode_commands", refuse_the_first)
    harness._feed(changes)
    assert sorted(_created(_ended(harness, end))) == numbers[1:]
    (letter,) = harness.dead_letters
    assert letter.record.key == numbers[0].encode() and letter.record.topic == changes[0][0]
    assert f"{numbers[0]}: cannot decide on the changes of source transaction" in letter.reason
    assert "does not fit its schema" in letter.reason and "decided again with its next change" in letter.reason
    assert harness.stored(numbers[0]) is not None and _deferred(harness) == {}


def test_a_deferred_decision_with_nothing_to_send_writes_no_state(mappings: dict[str, RecordMapping],
                                                                  schemas: SchemaStore,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An entity several parts touched is deferred in each of their chunks: decided with the first, the later
    decisions find nothing to send, and its state (and changelog) is not written again for them."""
    harness = _limited(mappings, schemas, 3)
    numbers = [f"C-4209{n:02d}" for n in range(4)]
    *changes, end = _table_by_table(harness, numbers)
    harness._feed(changes)
    start = len(harness.emitted)
    harness._feed([end])  # the last part's entities, and the first chunk the parts left
    written: list[str] = []
    put_raw = MemoryStore.put_raw

    def counted(store: MemoryStore, key: str, raw: bytes | None) -> None:
        if store.name == ENTITIES:
            written.append(key)
        put_raw(store, key, raw)

    monkeypatch.setattr(MemoryStore, "put_raw", counted)
    before_ticks, ticks = len(harness.emitted), 0
    while _deferred(harness):
        assert ticks < 10, "the deferred chunks are never decided"
        harness.run.tick(read_to_end=())
        ticks += 1
    at_ticks = _created(decode_commands(harness.emitted[before_ticks:], harness.schemas))
    assert sorted(_created(decode_commands(harness.emitted[start:], harness.schemas))) == numbers  # each once
    decided = harness.run.context.counts[DECIDED_COUNT]
    assert ticks >= 1 and decided > len(numbers) + len(at_ticks)  # some decided again, with nothing to send
    assert sorted(written) == sorted(at_ticks)  # only the entities a tick sent a command for were written


def _fleet_decides(harness: Harness, records: list[tuple[str, bytes | None, bytes | None]]) -> LocalRun:
    """``records`` through a keying stage of three partitions, then what it routed through the keyed flow."""
    laid = partitioned(harness.flow.spec(), 3)
    stage = LocalRun(laid.stage)
    for one in records:  # a batch per record, as a worker reading them one at a time
        asyncio.run(stage.feed([stage.record(*one)]))
    assert stage.context.dead_letters == []
    flow = LocalRun(laid.flow)
    asyncio.run(flow.feed([Incoming(topic=e.topic, partition=0, offset=i, key=e.key, value=e.value,
                                    timestamp_ms=0, headers=e.headers)
                           for i, e in enumerate(stage.context.emitted)]))
    assert flow.context.dead_letters == []
    return flow


@pytest.mark.parametrize("end_first", [False, True], ids=["end-last", "end-first"])
def test_a_transaction_of_exactly_the_limit_is_decided_in_a_fleet(mappings: dict[str, RecordMapping],
                                                                    schemas: SchemaStore, end_first: bool) -> None:
    """A transaction of exactly ``transaction_limit`` changes (or a multiple) ends with an empty last part: the
    keying stage routes nothing for it (before, it read the first record of none, and dead-lettered the change or
    END that completed the transaction with an ``IndexError``); every change still reaches its decision."""
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    numbers = [f"C-4212{n:02d}" for n in range(4)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    flow = _fleet_decides(harness, [end, *changes] if end_first else [*changes, end])
    sent = decode_commands(flow.context.emitted, harness.schemas)
    assert sorted(s.key for s in sent if s.route == ("Account", "create")) == numbers


@pytest.mark.parametrize("end_first", [False, True], ids=["end-last", "end-first"])
def test_a_transaction_of_exactly_the_limit_is_decided_in_one_partition(
        mappings: dict[str, RecordMapping], schemas: SchemaStore, end_first: bool) -> None:
    harness = _limited(mappings, schemas, 2)
    systems = harness.systems
    numbers = [f"C-4213{n:02d}" for n in range(2)]
    *changes, end = one_transaction([systems.crm_create(n, name="Bulk") for n in numbers])
    for one in [end, *changes] if end_first else [*changes, end]:
        harness._feed([one])
    assert sorted(_created(decode_commands(harness.emitted, harness.schemas))) == numbers
    assert harness.dead_letters == [] and _deferred(harness) == {}
