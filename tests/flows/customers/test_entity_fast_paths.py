"""The entity flow's per-record shortcuts (issue 17) answer what the plain definitions answer: the mirror's
one-loop ``differing`` and the config's cached derived values; no look-up a change does not need."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig
from streams.flows.customers.flow import ROWS
from streams.flows.customers.mirror import MISSING, Mirror
from streams.flows.engine.stores import MemoryStore
from streams.mapping import RecordMapping

AT = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)
ADDRESS = {"line1": "1 Road", "line2": None, "city": "Oslo"}


@pytest.fixture(scope="module")
def config(mappings: dict[str, RecordMapping], schemas: SchemaStore) -> EntityConfig:
    return CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems()).config


def _one_by_one(mirror: Mirror, names: tuple[str, ...], record: dict[str, Any],
                defaults: dict[str, Any]) -> tuple[str, ...]:
    return tuple(n for n in names if mirror.differs(n, record[n] if n in record else defaults.get(n, MISSING)))


def test_differing_is_differs_field_by_field() -> None:
    mirror = Mirror(system="erp", holds={"name": None, "address": ("line1", "city"), "limit": None,
                                         "note": None, "unknown": None, "terms": None, "blocked": None})
    mirror.observe("name", "Acme")  # reported, same as wanted
    mirror.observe("address", {**ADDRESS, "city": "Bergen"})  # nested: only the held parts count
    mirror.observe("limit", Decimal("1.00"))
    mirror.command("limit", Decimal("2.00"))  # in flight: the expectation is the last command
    mirror.observe("note", "x")  # wanted null: a null clears it
    mirror.observe("terms", "net30")  # wanted from the defaults
    mirror.observe("blocked", False)  # no value anywhere: MISSING, not written
    names = ("name", "address", "limit", "note", "unknown", "terms", "blocked", "never")
    record = {"name": "Acme", "address": ADDRESS, "limit": Decimal("2.00"), "note": None, "unknown": "u",
              "never": AT}
    defaults = {"terms": "net60"}
    expected = ("address", "note", "terms")
    assert _one_by_one(mirror, names, record, defaults) == expected
    assert mirror.differing(names, record, defaults) == expected
    same = {**record, "address": {**ADDRESS, "city": "Bergen", "line2": "ignored"}, "note": "x"}
    assert mirror.differing(names, same, {"terms": "net30"}) == () == _one_by_one(mirror, names, same,
                                                                                  {"terms": "net30"})


def test_cached_config_values_are_their_definitions(config: EntityConfig) -> None:
    for role in config.written.values():
        assert role.record_writes == tuple(n for n in role.writes if n not in role.link_back)
        assert role.holds == {**{f: None for f in role.link_back}, **role.writes}
    names = {n for columns in config.observes.values() for n in columns} | {"nobody_reports_this"}
    for name in names:
        assert config.observed_by(name) == tuple(s for s, columns in config.observes.items() if name in columns)
    assert config.observed_by("erp_account_id") == ("crm",)
    for name in (*config.written, "nowhere"):
        assert config.creates_in(name) == (name in config.written
                                           and any(o != name for o in config.origins))
    assert [r.name for r in config.targets] == ["erp"] and [r.name for r in config.order] == ["erp", "crm"]


def test_an_inserted_row_is_remembered_without_looking_it_up(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an update or delete needs the remembered row (its before-image): an insert is not looked up, a key
    that no on-disk store holds yet being the dearest read. The update after it still finds the row."""
    systems = harness.systems
    harness.feed(systems.crm_create("C-910001", name="Rows Co"))
    looked_up: list[str] = []
    get_raw = MemoryStore.get_raw  # the rows are read as objects (packed), through the store's bytes

    def counted(store: MemoryStore, key: str) -> Any:
        if store.name == ROWS:
            looked_up.append(key)
        return get_raw(store, key)

    monkeypatch.setattr(MemoryStore, "get_raw", counted)
    harness.feed(systems.crm_address("C-910001", "billing", line1="1 Quay"))
    assert looked_up == []
    (update,) = harness.feed(systems.crm_address("C-910001", "billing", line1="2 Quay"))
    assert update.payload["billing_address"]["line1"] == "2 Quay" and len(looked_up) == 1
