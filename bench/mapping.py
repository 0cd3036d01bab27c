"""`python -m bench.mapping`: CPU time of the mapping engine alone, per source record (issue 17, item 2).

The customer flow's sync mix (:func:`bench.debezium.customer_sync`) is generated and decoded first, untimed;
then each decoded change goes through :func:`streams.mapping.map_change` of every repository mapping that reads
its table (as the flows map it), and each CRM customer's canonical record through :func:`streams.mapping.project`
to the ERP account payload (``mappings/account.yaml``), as the customer flow projects a command.
``time.process_time`` around the whole pass gives µs per record; the best of ``--runs`` passes is printed (the
figure least disturbed by other work on a shared machine). The cross-reference answers every look-up, so every
change maps. No figure is asserted and nothing is written: the figures go by hand into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.debezium import Debezium, customer_sync
from streams.codecs import ChangeEvent, decode
from streams.codecs.avro.schemas import load_schemas
from streams.mapping import Context, RecordMapping, load_mappings, map_change, project
from streams.systems import load_systems


def _xref(record: str, by: str, key: Any) -> Mapping[str, Any]:
    """A cross-reference that knows every key: customer ``n`` is ``C-000000n`` with ERP account ``n``."""
    return {by: key, "customer_number": f"C-{key:07d}", "erp_account_id": key, "crm_customer_id": key,
            "order_number": f"SO-{key:07d}"}


@dataclass(frozen=True)
class Work:
    """One decoded change and the mappings (with the system and table) that read it."""

    event: ChangeEvent
    system: str
    table: str
    mappings: tuple[RecordMapping, ...]


def prepare(customers: int) -> tuple[list[Work], dict[str, RecordMapping], Mapping[str, Any], Context]:
    schemas = load_schemas()
    systems = load_systems(env={})
    mappings = load_mappings(schemas=schemas, systems=systems)
    work = []
    for change in customer_sync(Debezium(), customers):
        system, _, table = change.topic.split(".")
        event = decode(change.value, change.key, topic=change.topic)
        assert isinstance(event, ChangeEvent)
        readers = tuple(m for m in mappings.values() if m.sources_for(system, table))
        work.append(Work(event, system, table, readers))
    return work, mappings, schemas.named, Context.of(systems, lookup=_xref)


def map_pass(work: Sequence[Work], context: Context, named: Mapping[str, Any]) -> tuple[float, int]:
    """CPU seconds of one pass of map_change over ``work``; the number of changes mapped."""
    mapped = 0
    started = time.process_time()
    for item in work:
        for mapping in item.mappings:
            mapped += len(map_change(mapping, item.event, item.system, context, named, table=item.table))
    return time.process_time() - started, mapped


def project_pass(records: Sequence[Mapping[str, Any]], payload: RecordMapping, context: Context,
                 named: Mapping[str, Any]) -> float:
    started = time.process_time()
    for record in records:
        project(payload, record, context, named)
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mapping", description=__doc__)
    parser.add_argument("--customers", type=int, default=5_000, help="customers of the sync mix (7 records each)")
    parser.add_argument("--runs", type=int, default=5, help="passes; the best is printed")
    args = parser.parse_args(argv)
    work, mappings, named, context = prepare(args.customers)
    customer, payload = mappings["customer"], mappings["account"]
    records = [dict(change.values) for item in work if item.system == "crm" and item.event.op.value == "c"
               and item.table == "customers"
               for change in map_change(customer, item.event, "crm", context, named, table="customers")]
    for record in records:
        record.setdefault("active", True)
    gc.collect()
    maps, projects, mapped = [], [], 0
    for _ in range(args.runs):
        spent, mapped = map_pass(work, context, named)
        maps.append(spent)
        projects.append(project_pass(records, payload, context, named))
    calls = sum(len(item.mappings) for item in work)
    best = min(maps)
    print(f"bench mapping: map_change, {len(work):,} records ({calls:,} mapping calls, {mapped:,} changes): "
          f"{best / len(work) * 1e6:.1f} µs/record, {best / calls * 1e6:.1f} µs/call "
          f"(runs: {', '.join(f'{m / len(work) * 1e6:.1f}' for m in maps)})")
    best = min(projects)
    print(f"bench mapping: project Customer -> account payload, {len(records):,} records: "
          f"{best / len(records) * 1e6:.1f} µs/record "
          f"(runs: {', '.join(f'{p / len(records) * 1e6:.1f}' for p in projects)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
