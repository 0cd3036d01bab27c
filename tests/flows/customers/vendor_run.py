"""The entity flow on a new user's trial, made up (tests/flows/customers/vendor_rows/): the vendors of a
purchasing system ``buying`` become suppliers of a ``bills`` system. A vendor's mail and phone are rows of
``vendor_contact`` (one per kind), read by two sources of the record with a ``when`` each: keyed by the row's own
``vendor_code`` (vendor_rows/mappings/), or through a look-up of the link (vendor_rows/looked_up/, the user's
workaround, which makes the flow remember the table's rows). Run through LocalRun with the real handler
(:mod:`made_up_run`); bills' answers are fed by the test, as its CDC would deliver them."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from customer_events import Sent
from made_up_run import MadeUpRun, MadeUpTable
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig, entity_config
from streams.flows.engine.local import LocalRun
from streams.flows.engine.staging import RecordContext
from streams.flows.files import load_flow_files
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Engine, Systems

HERE = Path(__file__).parent / "vendor_rows"
PUBLISHED = "test.canonical.vendors"
BILLS_COMMANDS = "isthmus.commands.bills"
T0 = dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)
#: Column -> (SQL type, Connect type) of each table.
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "vendor": {"vendor_code": ("VARCHAR", "string"), "name": ("VARCHAR", "string")},
    "vendor_contact": {"id": ("INT", "int32"), "vendor_code": ("VARCHAR", "string"), "kind": ("VARCHAR", "string"),
                       "value": ("VARCHAR", "string")},
    "supplier": {"id": ("BIGINT", "int64"), "vendor_ref": ("TEXT", "string"), "name": ("TEXT", "string"),
                 "email": ("TEXT", "string"), "phone": ("TEXT", "string")},
}
KEYS = {"vendor": ("vendor_code",), "vendor_contact": ("id",), "supplier": ("id",)}
SYSTEM_OF = {"vendor": "buying", "vendor_contact": "buying", "supplier": "bills"}
OPTIONAL = {"email", "phone"}


def _engine(name: str, key_only: bool) -> Engine:
    """bills is PostgreSQL; buying is MariaDB (whole row images), or with ``key_only`` PostgreSQL whose contacts
    keep the default replica identity (their deletes carry the id only)."""
    return Engine.POSTGRESQL if name == "bills" or key_only else Engine.MARIADB


def _catalogs(key_only: bool) -> dict[str, Catalog]:
    catalogs: dict[str, Catalog] = {}
    for name in ("buying", "bills"):
        engine = _engine(name, key_only)
        tables = {table: Table(
            name=table, primary_key=KEYS[table],
            replica_identity=None if engine is Engine.MARIADB else "default" if table == "vendor_contact" else "full",
            columns={c: Column(name=c, sql_type=t, nullable=c in OPTIONAL) for c, (t, _) in COLUMNS[table].items()})
            for table, of in SYSTEM_OF.items() if of == name}
        catalogs[name] = Catalog(system=name, engine=engine.value, namespace=name, tables=tables)
    return catalogs


@functools.cache
def _loaded(schemas: SchemaStore, looked_up: bool, key_only: bool) -> tuple[Systems, EntityConfig]:
    systems = Systems({name: system(name, engine=_engine(name, key_only), writable=name == "bills")
                       for name in ("buying", "bills")}, directory=HERE)
    catalogs = _catalogs(key_only)
    mappings: dict[str, RecordMapping] = load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=catalogs,
                                                       systems=systems)
    if looked_up:
        mappings.update(load_mappings(HERE / "looked_up", schemas=schemas.schemas, tables=catalogs, systems=systems))
    (flow,) = load_flow_files(HERE / "flows")
    return systems, entity_config(flow, mappings, schemas.schemas.named, systems)


def contact(row_id: int, vendor_code: str, kind: str, value: str) -> dict[str, Any]:
    return {"id": row_id, "vendor_code": vendor_code, "kind": kind, "value": value}


class Vendors(MadeUpRun):
    """The flow under LocalRun; :meth:`feed` gives the bills commands the changes caused."""

    def __init__(self, schemas: SchemaStore, *, looked_up: bool = False, key_only: bool = False) -> None:
        """``looked_up``: the contacts found through the link (vendor_rows/looked_up/); ``key_only``: buying is a
        PostgreSQL whose ``vendor_contact`` keeps the default replica identity."""
        self.key_only = key_only
        flow = self._flow(schemas, looked_up)
        super().__init__(schemas, self.systems, flow, start=T0, published_to=PUBLISHED)

    def _flow(self, schemas: SchemaStore, looked_up: bool) -> CustomerFlow:
        """The flow over the contacts' mapping ``looked_up`` says (its systems and config kept)."""
        self.systems, self.config = _loaded(schemas, looked_up, self.key_only)
        return CustomerFlow(schemas=schemas, systems=self.systems, config=self.config, mappings={}, clock=lambda: T0)

    def restart(self, *, looked_up: bool) -> None:
        """The worker restarted with the other mapping of the contacts, over the stores it had."""
        old = self.run.context
        self.flow = self._flow(self.schemas, looked_up)
        self.run = LocalRun(self.flow.spec())
        self.run.context = RecordContext(memory=old.memory, stage=old.stage, stages=old.stages)

    def table(self, name: str) -> MadeUpTable:
        system_name = SYSTEM_OF[name]
        return MadeUpTable(system=system_name, columns=COLUMNS[name], key=KEYS[name],
                           engine=_engine(system_name, self.key_only), namespace=system_name)

    def supplier(self, sent: Sent, row_id: int) -> dict[str, Any]:
        """The bills supplier row a ``create`` made, with the values it carried."""
        payload = sent.payload
        return {"id": row_id, "vendor_ref": payload["customer_number"], "name": payload["name"],
                "email": payload.get("email"), "phone": payload.get("phone")}
