"""Declared systems for unit tests: the reference pair (as ``systems/`` declares it), plus systems made up in
memory, so a test can add a third system without a connector or target file on disk."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from streams.catalog.model import Catalog
from streams.mapping.loader import Tables, default_tables
from streams.systems import Engine, Systems, SystemSpec, TopicNaming, load_systems


def system(name: str, *, prefix: str | None = None, namespace: str | None = None, time_zone: str = "UTC",
           writable: bool = False, engine: Engine = Engine.MARIADB, target: Path | None = None) -> SystemSpec:
    """A system as a ``systems/<name>.yaml`` would declare it (topics ``<prefix>.<namespace>.<table>``)."""
    return SystemSpec(name=name, path=Path(f"systems/{name}.yaml"), engine=engine, connector=f"{name}-source",
                      topics=TopicNaming(prefix=prefix or name, namespace=namespace or name), time_zone=time_zone,
                      writable=writable, target=target or (Path(f"targets/{name}.yaml") if writable else None))


def write_only(name: str, *, time_zone: str = "UTC") -> SystemSpec:
    """A system as ``capture: none`` declares it: written through ``targets/<name>.yaml``, never captured."""
    return SystemSpec(name=name, path=Path(f"systems/{name}.yaml"), engine=None, connector=None, topics=None,
                      time_zone=time_zone, writable=True, target=Path(f"targets/{name}.yaml"))


def reference_with(*extra: SystemSpec, env: Mapping[str, str] | None = None) -> Systems:
    """The reference CRM and ERP (zones from ``env``, default: none set) and ``extra`` systems."""
    reference = load_systems(env=env or {})
    found = {**{name: reference[name] for name in reference}, **{spec.name: spec for spec in extra}}
    return Systems(found, directory=reference.directory)


def reference_systems(erp_time_zone: str = "Asia/Shanghai") -> Systems:
    """The reference CRM and ERP with the ERP's local times in ``erp_time_zone`` (``systems/erp.yaml`` reads it
    from ``ISTHMUS_ERP_TIME_ZONE``), whatever the environment of the test run holds."""
    return load_systems(env={"ISTHMUS_ERP_TIME_ZONE": erp_time_zone})


def tables_with(name: str, **tables_like: tuple[str, str]) -> Tables:
    """The reference columns files, and a catalog for system ``name`` whose tables are copies of reference
    tables: ``tables_with("shop", payments=("erp", "payments"))`` gives shop a ``payments`` table with the
    ERP's columns (what ``isthmus mappings discover shop`` would have written)."""
    reference = default_tables()
    copied = {table: reference[system].tables[like] for table, (system, like) in tables_like.items()}
    return {**reference, name: Catalog(system=name, engine="mariadb", namespace=name, tables=copied)}
