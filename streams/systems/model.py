"""A system Isthmus bridges, as its file in ``systems/`` declares it: immutable values, checked at load."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from streams.capture.filters import CaptureFilter
from streams.systems.exceptions import NotCaptured, UnknownSystem


class Engine(StrEnum):
    """The database engine a system's tables live in: it decides the Debezium connector and the catalog."""

    POSTGRESQL = "postgresql"
    MARIADB = "mariadb"
    MYSQL = "mysql"


class ClockPrecision(StrEnum):
    """How finely a system's commit times are kept: MariaDB's and MySQL's binlog have whole seconds,
    PostgreSQL's commit timestamps microseconds. Conflict resolution compares two systems' times at the coarser
    precision of the two (:func:`streams.mapping.reconcile.reconcile`)."""

    SECONDS = "seconds"
    MILLISECONDS = "milliseconds"
    MICROSECONDS = "microseconds"

    @property
    def resolution(self) -> dt.timedelta:
        """The smallest step between two commit times of this precision."""
        return {"seconds": dt.timedelta(seconds=1), "milliseconds": dt.timedelta(milliseconds=1),
                "microseconds": dt.timedelta(microseconds=1)}[self.value]


#: The precision of each engine's commit times, when a system file does not declare its own.
ENGINE_CLOCKS = {Engine.POSTGRESQL: ClockPrecision.MICROSECONDS, Engine.MARIADB: ClockPrecision.SECONDS,
                 Engine.MYSQL: ClockPrecision.SECONDS}


@dataclass(frozen=True, kw_only=True)
class TopicNaming:
    """Debezium's topic names: ``<prefix>.<namespace>.<table>`` for change events (``namespace`` is the
    PostgreSQL schema, or the MariaDB/MySQL database) and ``<prefix>.transaction`` for transaction metadata."""

    prefix: str
    namespace: str

    def table(self, table: str) -> str:
        return f"{self.prefix}.{self.namespace}.{table}"

    @property
    def transaction(self) -> str:
        return f"{self.prefix}.transaction"

    def table_of(self, topic: str) -> str | None:
        """The table a change-event topic of this system carries, or None for another system's topic."""
        head = f"{self.prefix}.{self.namespace}."
        return topic[len(head):] if topic.startswith(head) and len(topic) > len(head) else None


@dataclass(frozen=True, kw_only=True)
class SystemSpec:
    """One system: ``name`` is any identifier (``crm``, ``odoo``, ``shop``); ``writable`` systems take
    commands through ``target``; a read-only one is only captured (its data still reaches canonical topics).

    A write-only system (``capture: none``: a SaaS API with no database Isthmus can capture) has no ``engine``,
    ``connector`` or ``topics``; its capture-side values raise :class:`NotCaptured`."""

    name: str
    path: Path
    #: The three are None together, for a write-only system (:attr:`captured` is False).
    engine: Engine | None
    connector: str | None
    topics: TopicNaming | None
    time_zone: str
    writable: bool
    target: Path | None = None
    description: str = ""
    #: Its commit times' precision as its file declares it; None: its engine's (:data:`ENGINE_CLOCKS`).
    commit_time_precision: ClockPrecision | None = None
    #: The connector's file, and the tables it captures (None when its lists cannot be read exactly, or an
    #: overlay changes them per environment).
    connector_file: Path | None = None
    capture: CaptureFilter | None = None
    #: The master-data tables (of its namespace) the daily re-sync reads again by an incremental snapshot
    #: (:mod:`streams.worker.resync`); none for a system whose file leaves ``resync`` out.
    resync: tuple[str, ...] = ()

    @property
    def captured(self) -> bool:
        """Does a connector capture the system? False for a write-only one (``capture: none``)."""
        return self.topics is not None

    def captures(self, table: str) -> bool:
        """Does the connector capture ``table`` (of the system's namespace)? True when that is not known; False
        for every table of a write-only system."""
        if self.topics is None:
            return False
        return self.capture is None or self.capture.captures(self.topics.namespace, table)

    def column_left_out_by(self, table: str, column: str) -> str | None:
        """The connector's column list that leaves ``column`` of ``table`` out of every change event
        (``column.include.list`` or ``column.exclude.list``); None when it is sent, or that is not known."""
        if self.topics is None or self.capture is None:
            return None
        return self.capture.column_left_out_by(self.topics.namespace, table, column)

    @property
    def naming(self) -> TopicNaming:
        """How the system's topics are named; :class:`NotCaptured` for a write-only system."""
        if self.topics is None:
            raise NotCaptured(f"system {self.name} is written only (capture: none in {self.path}): it has no "
                              "connector and no change-event topics; read a captured system, or the canonical "
                              "record, instead")
        return self.topics

    @property
    def namespace(self) -> str:
        """The PostgreSQL schema, or the MariaDB/MySQL database, of the captured tables."""
        return self.naming.namespace

    @property
    def clock(self) -> ClockPrecision:
        """The precision of the commit times the system's change events carry."""
        if self.engine is None:
            raise NotCaptured(f"system {self.name} is written only (capture: none): no change event of it carries "
                              "a commit time")
        return self.commit_time_precision or ENGINE_CLOCKS[self.engine]

    def topic(self, table: str) -> str:
        """The change-event topic of ``table`` (e.g. ``crm.crm.customers``)."""
        return self.naming.table(table)

    @property
    def transaction_topic(self) -> str:
        return self.naming.transaction

    def __repr__(self) -> str:
        engine = self.engine.value if self.engine is not None else None
        return (f"SystemSpec(name={self.name!r}, engine={engine!r}, connector={self.connector!r}, "
                f"writable={self.writable!r})")


class Systems(Mapping[str, SystemSpec]):
    """Every declared system, by name; looking up an undeclared one says which exist and how to add it."""

    def __init__(self, systems: Mapping[str, SystemSpec], *, directory: Path) -> None:
        self._systems = dict(sorted(systems.items()))
        self.directory = directory

    def __getitem__(self, name: str) -> SystemSpec:
        try:
            return self._systems[name]
        except KeyError:
            raise UnknownSystem(
                f"no system named {name!r}; declared in {self.directory}: {', '.join(self._systems) or 'none'}; "
                f"add {self.directory / (str(name) + '.yaml')} or check the spelling") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._systems)

    def __len__(self) -> int:
        return len(self._systems)

    @property
    def writable(self) -> tuple[str, ...]:
        """The systems that take commands, in name order."""
        return tuple(name for name, spec in self._systems.items() if spec.writable)

    @property
    def captured(self) -> tuple[str, ...]:
        """The systems a connector captures (all but the write-only ones), in name order."""
        return tuple(name for name, spec in self._systems.items() if spec.captured)

    @property
    def clocks(self) -> dict[str, dt.timedelta]:
        """Each captured system's commit-time resolution (:attr:`SystemSpec.clock`), as conflict resolution takes
        it (a write-only system commits no change Isthmus compares)."""
        return {name: spec.clock.resolution for name, spec in self._systems.items() if spec.captured}

    def by_topic(self, topic: str) -> tuple[SystemSpec, str] | None:
        """The system and table a change-event topic carries, or None when no system's naming matches."""
        for spec in self._systems.values():
            table = spec.topics.table_of(topic) if spec.topics is not None else None
            if table is not None:
                return spec, table
        return None

    def __repr__(self) -> str:
        return f"Systems({', '.join(self._systems)})"
