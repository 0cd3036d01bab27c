"""The entity's state per batch (issue 17, item 2): decoded once, written once per key per batch in the packed
layout, its canonical record published once per key per batch; the JSON layout written before still loads."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from customer_events import Systems, decode_topic
from customer_harness import Harness
from support.tx_events import with_ends

from reference.topics import CANONICAL_CUSTOMERS, CRM_CUSTOMERS
from streams.flows.customers.exceptions import CorruptState
from streams.flows.customers.state import CustomerState, StateCodec
from streams.flows.engine.api import encode_json
from streams.flows.engine.local import Emitted, LocalRun
from streams.flows.engine.packed import is_packed, pack, unpack_tagged
from streams.flows.engine.stores import MemoryStore
from streams.mapping.reconcile import Stamp

NUMBER = "C-700001"


class CountingStore(MemoryStore):
    """A memory store that counts the values written into it, per key."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.puts: dict[str, int] = {}

    def put_raw(self, key: str, raw: bytes | None) -> None:
        self.puts[key] = self.puts.get(key, 0) + 1
        super().put_raw(key, raw)


def _sync(systems: Systems, number: str) -> list[tuple[str, bytes | None, bytes | None]]:
    """A customer's records as one batch brings them: its create, a contact, two addresses, two edits."""
    return [systems.crm_create(number, name="Batch Co", email="a@batch.cn"), systems.crm_contact(number),
            systems.crm_address(number, "billing"), systems.crm_address(number, "shipping", line1="2 Quay"),
            systems.crm_edit(number, name="Batch Co Ltd"), systems.crm_edit(number, phone="021-555")]


def _batch_run(harness: Harness) -> tuple[LocalRun, CountingStore]:
    run = LocalRun(harness.flow.spec(), flush_each_feed=False)
    entities = CountingStore("entities")
    run.context.memory = {**run.context.memory, "entities": entities}
    return run, entities


def _feed(run: LocalRun, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
    """Feed ``records``, each change in a source transaction of its own (its END after it)."""
    asyncio.run(run.feed([run.record(t, k, v) for t, k, v in with_ends(records)]))


def test_the_entity_is_written_once_per_batch_and_published_once(harness: Harness) -> None:
    run, entities = _batch_run(harness)
    _feed(run, _sync(harness.systems, NUMBER))
    assert entities.puts == {}  # nothing written while the batch runs
    run.end_batch()
    assert entities.puts == {NUMBER: 1}
    raw = entities.get_raw(NUMBER)
    assert raw is not None and is_packed(raw)
    published = decode_topic(run.context.emitted, CANONICAL_CUSTOMERS, harness.schemas)
    assert len(published) == 1 and published[0]["name"] == "Batch Co Ltd" and published[0]["phone"] == "021-555"
    assert [a["kind"] for a in (published[0]["billing_address"], published[0]["shipping_address"])] == [
        "billing", "shipping"]


def _commands(emitted: list[Emitted], harness: Harness) -> list[tuple[str, dict[str, Any]]]:
    """The commands emitted, without the wall-clock time each was made at."""
    return [(e.topic, {k: v for k, v in harness.schemas.decode(e.value).value.items() if k != "created_at"})
            for e in emitted if e.topic.startswith("isthmus.commands.") and e.value is not None]


def test_a_batch_ends_where_record_by_record_ends(harness: Harness) -> None:
    """The same records, with a poison record among them, in one batch or each in its own: the same commands,
    the same dead letter, the same stored entity and the same last canonical record."""
    records = _sync(harness.systems, NUMBER)
    records.insert(3, (CRM_CUSTOMERS, records[0][1], b"{not json"))
    run, _ = _batch_run(harness)
    _feed(run, records)
    run.end_batch()
    harness.feed(*records)  # LocalRun's default: each feed is a batch
    one_by_one = LocalRun(harness.flow.spec())
    for record in records:
        _feed(one_by_one, [record])
    codec = StateCodec(harness.flow.config)
    states = [codec.decode(NUMBER, r.context.memory["entities"].get_raw(NUMBER)) for r in (run, one_by_one)]
    assert states[0] == states[1] and states[0].published == states[1].published
    for other in (run.context, harness.run.context):
        assert _commands(other.emitted, harness) == _commands(one_by_one.context.emitted, harness)
        assert [d.record.value for d in other.dead_letters] == [b"{not json"]
        assert decode_topic(other.emitted, CANONICAL_CUSTOMERS, harness.schemas)[-1] == decode_topic(
            one_by_one.context.emitted, CANONICAL_CUSTOMERS, harness.schemas)[-1]
    assert len(decode_topic(one_by_one.context.emitted, CANONICAL_CUSTOMERS, harness.schemas)) > 1
    assert len(_commands(run.context.emitted, harness)) > 1


def test_an_entity_stored_as_tagged_json_still_loads_and_is_rewritten_packed(harness: Harness) -> None:
    harness.feed(*_sync(harness.systems, NUMBER))
    entities = harness.run.context.memory["entities"]
    codec = StateCodec(harness.flow.config)
    raw = entities.get_raw(NUMBER)
    assert raw is not None
    state = codec.decode(NUMBER, raw)
    old = encode_json(state.to_json())  # the layout every entity was stored in before
    assert old is not None and old.startswith(b"{")
    upgraded = codec.decode(NUMBER, old)
    assert state.rows == {"crm.customers": [f"customers:{state.record['crm_customer_id']}"]}
    assert set(state.matching) == {"crm_billing_address", "crm_shipping_address"}
    assert upgraded == dataclasses.replace(state, rows={}, matching={}), "the same, but for the rows it records since"
    assert upgraded.published == state.published
    assert upgraded.record["credit_limit"] is None or isinstance(upgraded.record["credit_limit"], Decimal)
    entities.put_raw(NUMBER, old)
    published = len(decode_topic(harness.emitted, CANONICAL_CUSTOMERS, harness.schemas))
    harness.feed(harness.systems.crm_edit(NUMBER, name="Upgraded"))
    again = entities.get_raw(NUMBER)
    assert again is not None and is_packed(again)
    assert codec.decode(NUMBER, again).record["name"] == "Upgraded"
    canonical = decode_topic(harness.emitted, CANONICAL_CUSTOMERS, harness.schemas)
    assert len(canonical) == published + 1 and canonical[-1]["name"] == "Upgraded"


def test_an_upgraded_entity_that_did_not_change_is_not_published_again(harness: Harness) -> None:
    harness.feed(*_sync(harness.systems, NUMBER))
    entities = harness.run.context.memory["entities"]
    codec = StateCodec(harness.flow.config)
    state: CustomerState = codec.decode(NUMBER, entities.get_raw(NUMBER))
    entities.put_raw(NUMBER, encode_json(state.to_json()))
    published = len(decode_topic(harness.emitted, CANONICAL_CUSTOMERS, harness.schemas))
    harness.feed(harness.systems.crm_edit(NUMBER, name="Batch Co Ltd"))  # the value it already has
    assert len(decode_topic(harness.emitted, CANONICAL_CUSTOMERS, harness.schemas)) == published


def test_every_part_of_the_state_survives_the_packed_layout_and_a_copy(harness: Harness) -> None:
    harness.feed(*_sync(harness.systems, NUMBER))
    codec = StateCodec(harness.flow.config)
    state = codec.decode(NUMBER, harness.run.context.memory["entities"].get_raw(NUMBER))
    state.mirror("erp").uncleared["phone"] = "021-1"
    state.creating["erp"] = "erp.Account.create.x"
    copied = codec.copy(state)
    assert codec.decode(NUMBER, codec.encode(NUMBER, state)) == state == copied
    copied.mirror("erp").pending.setdefault("name", []).append("Other")
    copied.children.setdefault("contacts", {})["99"] = {"crm_contact_id": 99}
    assert codec.decode(NUMBER, codec.encode(NUMBER, state)) == state != copied


def test_stamps_pack_as_plain_microseconds_and_the_tagged_form_still_reads(harness: Harness) -> None:
    """A stamp's time is packed as an integer its place says is a time (read back without walking the values
    for tags); a time that is not UTC keeps its offset, and a state packed with tagged stamps still reads."""
    harness.feed(*_sync(harness.systems, NUMBER))
    codec = StateCodec(harness.flow.config)
    state = codec.decode(NUMBER, harness.run.context.memory["entities"].get_raw(NUMBER))
    assert state.provenance and state.xref_provenance
    stamps = unpack_tagged(codec.encode(NUMBER, state))[1]
    assert all(type(at) is int for _, at in stamps.values())
    shanghai = dt.datetime(2026, 3, 10, 8, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    state.provenance["name"] = Stamp(system="erp", commit_time=shanghai)
    again = codec.decode(NUMBER, codec.encode(NUMBER, state))
    assert again == state and again.provenance["name"].commit_time.utcoffset() == dt.timedelta(hours=8)
    tagged = pack([state.record, {f: (s.system, s.commit_time) for f, s in state.provenance.items()},
                   state.children, state.xref,
                   {f: (s.system, s.commit_time) for f, s in state.xref_provenance.items()},
                   {n: (m.present, m.reported, m.pending, m.uncleared) for n, m in state.mirrors.items()},
                   state.creating, state.published])  # the layout's first form: 8 fields, stamps tagged
    first = {n: dataclasses.replace(m, unsent=set(), carried={}) for n, m in state.mirrors.items()}  # (kept since)
    assert codec.decode(NUMBER, tagged) == dataclasses.replace(state, rows={}, matching={}, mirrors=first)
    assert codec.decode(NUMBER, tagged).held_lineage is None
    assert codec.decode(NUMBER, codec.encode(NUMBER, state)).rows == state.rows != {}, "rows without a lineage"
    assert codec.decode(NUMBER, codec.encode(NUMBER, state)).matching == state.matching != {}
    state.held_lineage = '{"change":"c"}'
    assert codec.decode(NUMBER, codec.encode(NUMBER, state)).held_lineage == '{"change":"c"}'
    state.matching = {}
    assert len(unpack_tagged(codec.encode(NUMBER, state))) == 10, "no matching rows: none written"
    state.rows = {}
    assert len(unpack_tagged(codec.encode(NUMBER, state))) == 9, "no rows: none written"


def test_the_fields_one_change_stamped_share_one_stamp_read_back(harness: Harness) -> None:
    """Decoding makes one stamp per change that set fields (a stamp is immutable), not one per field."""
    harness.feed(*_sync(harness.systems, NUMBER))
    codec = StateCodec(harness.flow.config)
    state = codec.decode(NUMBER, harness.run.context.memory["entities"].get_raw(NUMBER))
    stamps = [*state.provenance.values(), *state.xref_provenance.values()]
    changes = {(s.system, s.commit_time) for s in stamps}
    assert len(stamps) > len(changes) > 1
    assert len({id(s) for s in stamps}) == len(changes)
    assert codec.decode(NUMBER, codec.encode(NUMBER, state)) == state


def test_a_packed_state_of_another_shape_is_refused_as_corrupt(harness: Harness) -> None:
    codec = StateCodec(harness.flow.config)
    for raw in (pack([{}, {}]), pack({"record": {}}), pack([{}, {"name": ["crm", "not a time"]}, {}, {}, {}, {},
                                                             {}, None])):
        with pytest.raises(CorruptState, match="is not what the flow writes"):
            codec.decode(NUMBER, raw)
