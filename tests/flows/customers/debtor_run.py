"""The entity flow on a new user's trial, made up (tests/flows/customers/debtors/): the debtors of a PostgreSQL ERP
``books`` (primary key mandant, debitor_nr, region; the customer number made of mandant and debitor_nr only)
become customers of a CRM ``desk`` whose ``deactivate`` deletes the customer, whose phone is its own. Run through
LocalRun with the real handler (:mod:`made_up_run`); the desk's answers (its rows made, changed, deleted) are
fed by the test, as the desk's CDC would deliver them."""

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
from streams.flows.files import load_flow_files
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Engine, Systems

HERE = Path(__file__).parent / "debtors"
PUBLISHED = "test.canonical.debtors"
DESK_COMMANDS = "isthmus.commands.desk"
T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
#: Column -> (SQL type, Connect type) of each table.
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "debitoren": {"mandant": ("SMALLINT", "int16"), "debitor_nr": ("INTEGER", "int32"), "region": ("TEXT", "string"),
                  "name": ("TEXT", "string"), "mail": ("TEXT", "string")},
    "customers": {"id": ("BIGINT", "int64"), "customer_number": ("TEXT", "string"), "name": ("TEXT", "string"),
                  "email": ("TEXT", "string"), "phone": ("TEXT", "string")},
}
#: The debtors keyed by a surrogate ``id`` instead, with PostgreSQL's default replica identity (a delete carries
#: the id only): the customer number reads columns beyond the key, so the flow remembers the table's rows.
SURROGATE = {"id": ("BIGINT", "int64"), **COLUMNS["debitoren"]}
KEYS = {"debitoren": ("mandant", "debitor_nr", "region"), "customers": ("id",)}
SYSTEM_OF = {"debitoren": "books", "customers": "desk"}
OPTIONAL = {"mail", "email", "phone"}


def _systems() -> Systems:
    return Systems({"books": system("books", prefix="erp", namespace="public", engine=Engine.POSTGRESQL),
                    "desk": system("desk", prefix="crm", namespace="public", engine=Engine.POSTGRESQL,
                                   writable=True)}, directory=HERE)


def _tables(surrogate: bool) -> tuple[dict[str, dict[str, tuple[str, str]]], dict[str, tuple[str, ...]]]:
    """The columns and primary keys of the tables, the debtors' keyed by ``id`` when ``surrogate``."""
    if not surrogate:
        return COLUMNS, KEYS
    return {**COLUMNS, "debitoren": SURROGATE}, {**KEYS, "debitoren": ("id",)}


def _catalogs(surrogate: bool) -> dict[str, Catalog]:
    columns, keys = _tables(surrogate)
    return {name: Catalog(system=name, engine="postgresql", namespace="public", tables={table: Table(
        name=table, primary_key=keys[table], replica_identity="default" if surrogate and name == "books" else "full",
        columns={c: Column(name=c, sql_type=t, nullable=c in OPTIONAL) for c, (t, _) in columns[table].items()})})
        for table, name in SYSTEM_OF.items()}


@functools.cache
def _loaded(schemas: SchemaStore, surrogate: bool) -> tuple[dict[str, RecordMapping], Systems, EntityConfig]:
    systems = _systems()
    mappings = load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=_catalogs(surrogate), systems=systems)
    (flow,) = load_flow_files(HERE / "flows")
    return mappings, systems, entity_config(flow, mappings, schemas.schemas.named, systems)


def number(mandant: int, debitor_nr: int) -> str:
    """The customer number the mapping makes of a debtor's mandant and number."""
    return f"C-{mandant:03d}{debitor_nr:010d}"


def debtor(mandant: int, debitor_nr: int, region: str, **values: Any) -> dict[str, Any]:
    return {"mandant": mandant, "debitor_nr": debitor_nr, "region": region, "name": "Alpen Handel",
            "mail": "office@alpen.test", **values}


class Debtors(MadeUpRun):
    """The flow under LocalRun; :meth:`feed` gives the desk commands the changes caused."""

    def __init__(self, schemas: SchemaStore, *, surrogate: bool = False) -> None:
        """``surrogate``: the debtors keyed by an ``id``, their rows remembered (:data:`SURROGATE`)."""
        mappings, systems, self.config = _loaded(schemas, surrogate)
        self.columns, self.keys = _tables(surrogate)
        super().__init__(schemas, systems, CustomerFlow(mappings=mappings, schemas=schemas, systems=systems,
                                                        config=self.config, clock=lambda: T0),
                         start=T0, published_to=PUBLISHED)

    def table(self, name: str) -> MadeUpTable:
        return MadeUpTable(system=SYSTEM_OF[name], columns=self.columns[name], key=self.keys[name],
                           engine=Engine.POSTGRESQL, namespace="public")

    def desk_row(self, sent: Sent, row_id: int, **values: Any) -> dict[str, Any]:
        """The desk's customer row a ``create`` made: the values it carried, ``values`` over them."""
        payload = sent.payload
        return {"id": row_id, "customer_number": payload["customer_number"], "name": payload["name"],
                "email": payload["email"], "phone": None, **values}
