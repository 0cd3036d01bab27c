"""The ``derived`` block sums a source transaction before it decides, and its command's key is the mapping's.

A made-up pair: ``meter`` (MariaDB) logs usage events, counted per account with ``sum: "1"`` into the ``hits`` of
the writable ``books``' ledgers, whose key ``ref`` the mapping computes as ``str(account_no)``. One INSERT of many
events in one transaction makes one command per account, with the count after the transaction (not one per
event, each showing an in-between count); a transaction past the flow's ``transaction_limit`` too, whatever
arrives between its parts; and an account number above 2^53 stays text in every command, as the mapping and the
payload schema say, whichever change led to it (not the raw ``BIGINT`` a JSON double cannot hold).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from support.fleet import fleet_runs
from support.systems import reference_with, system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.local import LocalRun
from streams.flows.files import load_flow_files
from streams.flows.orders.txjoin import SPLIT
from streams.flows.stock import StockFlow, read_config
from streams.mapping import load_mapping
from streams.mapping.loader import default_tables
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[2] / "codecs" / "fixtures"
BIG = 9007199254740993  # 2^53 + 1: a JSON double reads it as ...992
COMMANDS = "isthmus.commands.books"
EVENTS = "meter.metering.usage_events"
LEDGERS = "books.public.ledgers"
SCHEMA = {"type": "record", "name": "UsageCount", "namespace": "meter.canonical", "doc": "usage events per account",
          "fields": [{"name": "ref", "type": "string", "doc": "the account number, as text"},
                     {"name": "hits", "type": ["null", "long"], "default": None, "doc": "events counted"}]}
MAPPING = """\
description: usage events per account (the books' ledgers.hits)
target: meter.canonical.UsageCount
key: ref
owner: meter
policy: latest_commit_wins
sources:
  meter_events:
    system: meter
    table: usage_events
    group_by: [account_no]
    fields:
      ref: {compute: "str(account_no)"}
      hits: {sum: "1"}
"""
SECTION = """\
name: meter-usage-count
block: derived
derived:
  mapping: usage_count
  field: hits
  target: {system: books, table: ledgers, key: ref, column: hits, operation: update}
"""
_MARIADB = json.loads((FIXTURES / "erp_stock_u_1.json").read_text(encoding="utf-8"))
_POSTGRES = json.loads((FIXTURES / "crm_products_c_1.json").read_text(encoding="utf-8"))
_END = json.loads((FIXTURES / "erp_transaction_end_1.json").read_text(encoding="utf-8"))


def _shape(captured: dict[str, Any], table: str, columns: dict[str, str], key: str) -> dict[str, Any]:
    """A captured change's Connect schemas with another table's columns (``name: Connect type``)."""
    shape = copy.deepcopy(captured)
    fields = [{"field": name, "optional": name != key, "type": kind} for name, kind in columns.items()]
    for block in shape["value"]["schema"]["fields"]:
        if block["field"] in ("before", "after"):
            block.update(fields=fields, name=f"{table}.Value")
    shape["key"]["schema"] = {"type": "struct", "name": f"{table}.Key", "optional": False,
                              "fields": [f for f in fields if f["field"] == key]}
    return shape


EVENT = _shape(_MARIADB, "usage_events", {"id": "int64", "account_no": "int64", "kind": "string"}, "id")
LEDGER = _shape(_POSTGRES, "ledgers", {"ref": "string", "hits": "int64"}, "ref")


class Meter:
    """Debezium records of the pair: usage events in transactions of the meter, ledger rows of the books."""

    def __init__(self) -> None:
        self.n = 0
        self.event_id = 0

    def _source(self, captured: dict[str, Any], **moved: Any) -> dict[str, Any]:
        self.n += 1
        return {**captured["value"]["payload"]["source"], "ts_ms": 1_795_000_000_000 + self.n * 1000, **moved}

    def transaction(self, accounts: list[int]) -> list[tuple[str, bytes, bytes]]:
        """One INSERT of an event per entry of ``accounts``, in one transaction, and its END."""
        source = self._source(_MARIADB, db="metering", table="usage_events", gtid=f"0-1-{self.n + 1}",
                              pos=1000 * (self.n + 1))
        tx = source["gtid"]
        out = []
        for order, account in enumerate(accounts, start=1):
            self.event_id += 1
            row = {"id": self.event_id, "account_no": account, "kind": "call"}
            payload = {"before": None, "after": row, "op": "c", "source": {**source, "row": order - 1},
                       "ts_ms": source["ts_ms"] + 5,
                       "transaction": {"id": tx, "total_order": order, "data_collection_order": order}}
            out.append((EVENTS, json.dumps({"schema": EVENT["key"]["schema"], "payload": {"id": row["id"]}}).encode(),
                        json.dumps({"schema": EVENT["value"]["schema"], "payload": payload}).encode()))
        end = {"status": "END", "id": tx, "event_count": len(accounts), "ts_ms": source["ts_ms"],
               "data_collections": [{"data_collection": "metering.usage_events", "event_count": len(accounts)}]}
        out.append(("meter.transaction", json.dumps({"schema": _END["key"]["schema"], "payload": {"id": tx}}).encode(),
                    json.dumps({"schema": _END["value"]["schema"], "payload": end}).encode()))
        return out

    def ledger(self, ref: str, hits: int | None, *, before: int | None = None) -> tuple[str, bytes, bytes]:
        """The books' CDC of a ledger row (its create, or an update from ``before``)."""
        source = self._source(_POSTGRES, db="books", schema="public", table="ledgers", lsn=50_000 + 80 * self.n,
                              txId=900 + self.n)
        old = None if before is None else {"ref": ref, "hits": before}
        payload = {"before": old, "after": {"ref": ref, "hits": hits}, "op": "c" if old is None else "u",
                   "source": source, "ts_ms": source["ts_ms"] + 5,
                   "transaction": {"id": f"{source['txId']}:{source['lsn']}", "total_order": 1,
                                   "data_collection_order": 1}}
        return (LEDGERS, json.dumps({"schema": LEDGER["key"]["schema"], "payload": {"ref": ref}}).encode(),
                json.dumps({"schema": LEDGER["value"]["schema"], "payload": payload}).encode())


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> SchemaStore:
    folder = tmp_path_factory.mktemp("own-schemas")
    (folder / "usage_count.avsc").write_text(json.dumps(SCHEMA), encoding="utf-8")
    return SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(folder)}))


@pytest.fixture
def systems() -> Systems:
    return reference_with(system("meter", prefix="meter", namespace="metering"),
                          system("books", prefix="books", namespace="public", writable=True,
                                 engine=Engine.POSTGRESQL))


def _flow(tmp_path: Path, schemas: SchemaStore, systems: Systems, **changes: Any) -> StockFlow:
    events = Table(name="usage_events", primary_key=("id",), columns={c.name: c for c in (
        Column(name="id", sql_type="BIGINT", nullable=False), Column(name="account_no", sql_type="BIGINT",
                                                                     nullable=False),
        Column(name="kind", sql_type="VARCHAR", args=("20",), nullable=False))})
    tables = {**default_tables(), "meter": Catalog(system="meter", engine="mariadb", namespace="metering",
                                                   tables={"usage_events": events})}
    (tmp_path / "usage_count.yaml").write_text(MAPPING, encoding="utf-8")
    mapping = load_mapping(tmp_path / "usage_count.yaml", schemas=schemas.schemas, tables=tables, systems=systems)
    (tmp_path / "flows").mkdir(exist_ok=True)
    (tmp_path / "flows" / "usage.yaml").write_text(SECTION, encoding="utf-8")
    (section,) = load_flow_files(tmp_path / "flows", env={})
    config = read_config(section, {"usage_count": mapping}, systems, schemas.schemas.named)
    return StockFlow(schemas=schemas, config=dataclasses.replace(config, **changes), systems=systems,
                     name="meter-usage-count")


class Run:
    """The flow under LocalRun: what it commanded, each payload as the sink reads it (JSON text)."""

    def __init__(self, flow: StockFlow, schemas: SchemaStore) -> None:
        self.run = LocalRun(flow.spec())
        self.schemas = schemas

    def feed(self, records: list[tuple[str, bytes, bytes]]) -> list[tuple[str, str]]:
        """Feed ``records`` (one batch), ticking while the flow is busy; the (entity key, payload text) commanded."""
        seen = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(t, k, v) for t, k, v in records]))
        while self.run.tick().busy:
            pass
        assert self.run.context.dead_letters == []
        return commanded(self.run.context.emitted[seen:], self.schemas)


def commanded(emitted: list[Any], schemas: SchemaStore) -> list[tuple[str, str]]:
    out = []
    for e in emitted:
        assert e.topic == COMMANDS and e.value is not None
        command = schemas.decode(e.value, "isthmus.canonical.Command").value
        out.append((command["entity_key"], command["payload"]))
    return out


def _hits(sent: list[tuple[str, str]]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for key, payload in sent:
        found[key].append(json.loads(payload)["hits"])
    return dict(found)


ACCOUNTS = [BIG, *range(1001, 1010)]  # ten accounts


def _events(n: int) -> list[int]:
    """``n`` events spread over the ten accounts, the big one every tenth."""
    return [ACCOUNTS[i % len(ACCOUNTS)] for i in range(n)]


def test_one_transaction_of_many_events_commands_each_key_once_with_its_final_count(
        tmp_path: Path, schemas: SchemaStore, systems: Systems) -> None:
    meter = Meter()
    run = Run(_flow(tmp_path, schemas, systems), schemas)
    assert run.feed([meter.ledger(str(a), 0) for a in ACCOUNTS]) == []  # nothing counted yet
    sent = run.feed(meter.transaction(_events(300)))
    assert _hits(sent) == {str(a): [30] for a in ACCOUNTS}  # 10 commands, not 300 with every count in between
    echoes = [meter.ledger(str(a), 30, before=0) for a in ACCOUNTS]
    assert run.feed(echoes) == []
    assert _hits(run.feed(meter.transaction(_events(20)))) == {str(a): [32] for a in ACCOUNTS}


def test_a_key_computed_as_text_from_a_big_integer_stays_text_in_every_command(
        tmp_path: Path, schemas: SchemaStore, systems: Systems) -> None:
    meter = Meter()
    run = Run(_flow(tmp_path, schemas, systems), schemas)
    assert run.feed(meter.transaction([BIG] * 3)) == []  # the books have no ledger for it yet: kept
    sent = run.feed([meter.ledger(str(BIG), None)])  # its row appears: the count goes
    sent += run.feed(meter.transaction([BIG] * 2))
    sent += run.feed([meter.ledger(str(BIG), 3, before=None), meter.ledger(str(BIG), 5, before=3)])  # echoes
    sent += run.feed(meter.transaction([BIG]))
    assert [key for key, _ in sent] == [str(BIG)] * 3
    assert [payload for _, payload in sent] == [f'{{"hits":{n},"ref":"{BIG}"}}' for n in (3, 5, 6)]


def test_a_transaction_past_the_limit_is_summed_in_parts_and_each_key_commanded_once_at_its_end(
        tmp_path: Path, schemas: SchemaStore, systems: Systems) -> None:
    meter = Meter()
    flow = _flow(tmp_path, schemas, systems, transaction_limit=40)
    run = Run(flow, schemas)
    run.feed([meter.ledger(str(a), 0) for a in ACCOUNTS])
    *changes, end = meter.transaction(_events(300))
    # the parts come (no more than 40 held at a time); an edit of a ledger between them commands no count
    assert run.feed(changes[:150]) == []
    assert run.feed([meter.ledger("1003", 0, before=0)]) == []
    assert run.feed(changes[150:]) == []
    assert run.run.context.counts[SPLIT] == 1
    assert max(len(list(store.items())) for name, store in run.run.context.memory.items()
               if name.startswith("tx-")) <= 40 + 2
    sent = run.feed([end])
    assert _hits(sent) == {str(a): [30] for a in ACCOUNTS}
    assert all(json.loads(payload)["ref"] == key for key, payload in sent)


def test_a_fleet_commands_what_the_one_partition_flow_commands(tmp_path: Path, schemas: SchemaStore,
                                                               systems: Systems) -> None:
    meter = Meter()
    flow = _flow(tmp_path, schemas, systems)
    records = [*(meter.ledger(str(a), 0) for a in ACCOUNTS), *meter.transaction(_events(300)),
               *meter.transaction(_events(20))]
    baseline = Run(flow, schemas).feed(records)
    runs = fleet_runs(flow.spec(), records)
    sent: list[tuple[str, str]] = []
    for keyed in runs:
        assert keyed.context.dead_letters == []
        sent += commanded(keyed.context.emitted, schemas)
    assert len(runs) > 1
    assert Counter(sent) == Counter(baseline) and _hits(baseline) == {str(a): [30, 32] for a in ACCOUNTS}
