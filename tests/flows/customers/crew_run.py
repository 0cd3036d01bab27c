"""The entity flow on a new user's trial, made up (tests/flows/customers/crew/): the members of a MariaDB staff
system ``roster`` (the office phone a row of ``member_phone``) are workers of a gig platform ``gigs`` (PostgreSQL
behind an upsert API), both ways, ``active`` the latest commit's. Run through LocalRun with the real handler
(:mod:`made_up_run`); both systems' answers are fed by the test, as their CDC would deliver them."""

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

HERE = Path(__file__).parent / "crew"
#: crew/ before gigs' phone was mapped: gigs neither reports nor is written the phone.
UNPHONED = Path(__file__).parent / "crew_unphoned"
#: crew/ after gigs renamed its table ``worker`` to ``gig_worker`` (the mappings following it).
RENAMED = Path(__file__).parent / "crew_renamed"
PUBLISHED = "test.canonical.crew"
T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
#: Column -> (SQL type, Connect type) of each table.
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "member": {"code": ("VARCHAR", "string"), "name": ("VARCHAR", "string"), "active": ("TINYINT", "int16")},
    "member_phone": {"id": ("INT", "int32"), "code": ("VARCHAR", "string"), "kind": ("VARCHAR", "string"),
                     "number": ("VARCHAR", "string")},
    "worker": {"id": ("BIGINT", "int64"), "code": ("TEXT", "string"), "name": ("TEXT", "string"),
               "phone": ("TEXT", "string"), "active": ("BOOLEAN", "boolean")},
}
COLUMNS["gig_worker"] = COLUMNS["worker"]  # the worker table renamed (crew_renamed/)
KEYS = {"member": ("code",), "member_phone": ("id",), "worker": ("id",), "gig_worker": ("id",)}
SYSTEM_OF = {"member": "roster", "member_phone": "roster", "worker": "gigs", "gig_worker": "gigs"}
ENGINE = {"roster": Engine.MARIADB, "gigs": Engine.POSTGRESQL}
OPTIONAL = {"phone", "number"}


def _catalogs() -> dict[str, Catalog]:
    catalogs: dict[str, Catalog] = {}
    for name, engine in ENGINE.items():
        tables = {table: Table(
            name=table, primary_key=KEYS[table], replica_identity=None if engine is Engine.MARIADB else "full",
            columns={c: Column(name=c, sql_type=t, nullable=c in OPTIONAL) for c, (t, _) in COLUMNS[table].items()})
            for table, of in SYSTEM_OF.items() if of == name}
        catalogs[name] = Catalog(system=name, engine=engine.value, namespace=name, tables=tables)
    return catalogs


@functools.cache
def _loaded(schemas: SchemaStore, folder: Path) -> tuple[dict[str, RecordMapping], Systems, EntityConfig]:
    systems = Systems({name: system(name, engine=engine, writable=True) for name, engine in ENGINE.items()},
                      directory=folder)
    mappings = load_mappings(folder / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=systems)
    (flow,) = load_flow_files(folder / "flows")
    return mappings, systems, entity_config(flow, mappings, schemas.schemas.named, systems)


def member(code: str, name: str, *, active: int = 1) -> dict[str, Any]:
    return {"code": code, "name": name, "active": active}


class Crew(MadeUpRun):
    """The flow under LocalRun over the files in ``folder`` (default: crew/); :meth:`feed` gives the commands the
    changes caused."""

    def __init__(self, schemas: SchemaStore, folder: Path = HERE) -> None:
        mappings, systems, self.config = _loaded(schemas, folder)
        super().__init__(schemas, systems, CustomerFlow(mappings=mappings, schemas=schemas, systems=systems,
                                                        config=self.config, clock=lambda: T0),
                         start=T0, published_to=PUBLISHED)

    def restart(self, folder: Path = HERE) -> None:
        """The worker restarted with the files in ``folder``, over the stores it had."""
        old = self.run.context
        mappings, self.systems, self.config = _loaded(self.schemas, folder)
        self.flow = CustomerFlow(mappings=mappings, schemas=self.schemas, systems=self.systems, config=self.config,
                                 clock=lambda: T0)
        self.run = LocalRun(self.flow.spec())
        self.run.context = RecordContext(memory=old.memory, stage=old.stage, stages=old.stages)

    def table(self, name: str) -> MadeUpTable:
        system_name = SYSTEM_OF[name]
        return MadeUpTable(system=system_name, columns=COLUMNS[name], key=KEYS[name], engine=ENGINE[system_name],
                           namespace=system_name)

    def worker(self, sent: Sent, row_id: int, **values: Any) -> dict[str, Any]:
        """The gigs worker row a ``create`` made: the values it carried, ``values`` over them."""
        payload = sent.payload
        return {"id": row_id, "code": payload["customer_number"], "name": payload["name"],
                "phone": payload.get("phone"), "active": payload["active"], **values}

    def linked(self, code: str, name: str, row_id: int) -> dict[str, Any]:
        """Member ``code`` made in the roster, created in gigs as worker ``row_id`` and linked: the worker row."""
        (create,) = self.feed(self.change("member", "c", after=member(code, name)))
        assert create.route == ("Customer", "create"), create.route
        row = self.worker(create, row_id)
        self.feed(self.change("worker", "c", after=row))
        return row
