"""CPU time of the built-in flows' handlers per source record, without Kafka (issue 17, item 1).

Each flow is built from its flow file the way a worker builds it (:func:`streams.flows.registry.build_flows`
over a :class:`~streams.flows.context.FlowContext`) and run with :class:`~streams.flows.engine.local.LocalRun`:
the real handler and the real in-memory stores. It is fed generated Debezium records (:mod:`bench.debezium`)
of the mixes below, the records of the topics it reads, one at a time; ``time.process_time`` around each
record gives the handler's CPU time, summed per record kind. Every ``BATCH`` records the stores' changes are
taken (as a batch commit takes its changelog writes) and the emitted records dropped, outside the timed part,
so memory stays bounded and what is timed is the handler alone.

The mixes: ``customers``, per customer the customer flow's sync (CRM customer create, 2 contacts, 2 addresses,
the ERP account echo carrying ``crm_customer_number``, the CRM link-back update); ``stock``, per SKU a CRM
product, its stock in two warehouses, a reservation and the CRM's availability echo; ``orders``, per order its
customer and the ERP account echo, the order submitted with two lines in one CRM transaction (one END), and the
ERP order echo. A flow is measured on
every mix that has records of its inputs. Also measured: Debezium decoding alone (``streams.codecs.decode``)
per record kind, the floor under every flow.

No figure is asserted: the targets are printed beside the figures.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from bench.debezium import (
    Change,
    Debezium,
    customer_sync,
    customer_sync_in_transactions,
    end_of,
    order_changes,
    stock_changes,
)
from bench.exceptions import BenchError
from bench.report import Row, verdict
from streams.codecs import decode
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.collector import tune_for_batches
from streams.flows.engine.local import LocalRun
from streams.flows.registry import build_flows

#: Records between two simulated batch commits (stores' changes taken, emitted records dropped).
BATCH = 1_000
#: Records decoded for the decode-alone figures (its cost does not depend on how many keys there are).
DECODE_SAMPLE = 7_000
#: Issue 17's target for the customer flow's sync mix, flat from 10k to 1M keys.
TARGET_RECORDS_PER_CPU_S = 20_000

Mix = Callable[[Debezium, int], Iterator[Change]]
MIXES: dict[str, Mix] = {"customers": customer_sync, "customers-tx": customer_sync_in_transactions,
                         "stock": stock_changes, "orders": order_changes}
#: Which mixes measure which flow (by its flow file's name); a flow of the selection whose inputs none of its
#: mixes reach is reported as not measured.
FLOW_MIXES: dict[str, tuple[str, ...]] = {
    #: ``customers-tx``: the same sync with each customer's rows in one CRM transaction, as the reference CRM's
    #: API writes them (the target is measured on ``customers``, every row a transaction of its own).
    "isthmus-customers": ("customers", "customers-tx"),
    "isthmus-stock": ("stock",),
    "isthmus-canonical": ("customers", "stock"),
    #: The orders flow reads every CRM customer and ERP account change (its party index and balances): the
    #: customers mix is what it sees most; the orders mix, its documents.
    "isthmus-orders": ("customers", "orders"),
}


@dataclass
class KindCost:
    records: int = 0
    cpu_s: float = 0.0

    @property
    def us_per_record(self) -> float:
        return self.cpu_s / self.records * 1e6 if self.records else 0.0


@dataclass
class FlowRun:
    """One flow fed one mix over ``keys`` keys: CPU per record kind, and what the handler produced."""

    flow: str
    mix: str
    keys: int
    kinds: dict[str, KindCost] = field(default_factory=dict)
    emitted: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    wall_s: float = 0.0
    #: CPU spent at the batches' ends (objects written, canonical records published), in the totals.
    batch_end_cpu_s: float = 0.0

    @property
    def records(self) -> int:
        return sum(k.records for k in self.kinds.values())

    @property
    def cpu_s(self) -> float:
        return sum(k.cpu_s for k in self.kinds.values()) + self.batch_end_cpu_s

    @property
    def us_per_record(self) -> float:
        return self.cpu_s / self.records * 1e6 if self.records else 0.0

    @property
    def records_per_cpu_s(self) -> float:
        return self.records / self.cpu_s if self.cpu_s else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"flow": self.flow, "mix": self.mix, "keys": self.keys, "records": self.records,
                "cpu_s": self.cpu_s, "us_per_record": self.us_per_record,
                "records_per_cpu_s": self.records_per_cpu_s, "wall_s": self.wall_s,
                "batch_end_us_per_record": self.batch_end_cpu_s / self.records * 1e6 if self.records else 0.0,
                "kinds": {name: {"records": k.records, "us_per_record": k.us_per_record}
                          for name, k in self.kinds.items()},
                "emitted": dict(self.emitted), "dead_letters": self.dead_letters}


def _commit(run: LocalRun, into: FlowRun) -> None:
    """What a batch commit does to a LocalRun's context: the batch's objects are written into the stores (timed:
    the handler's work deferred to the batch's end), the stores' changes are taken, the output is gone."""
    started = time.process_time()
    run.end_batch()
    into.batch_end_cpu_s += time.process_time() - started
    for store in run.context.memory.values():
        store.take_changes()
    into.emitted.update(e.topic for e in run.context.emitted)
    into.dead_letters += len(run.context.dead_letters)
    run.context.emitted.clear()
    run.context.dead_letters.clear()


async def feed(spec: FlowSpec, changes: Iterable[Change], *, mix: str, keys: int) -> FlowRun:
    """Feed the changes of ``spec``'s inputs to its handler one by one; CPU time per change kind."""
    result = FlowRun(flow=spec.name, mix=mix, keys=keys)
    run = LocalRun(spec, flush_each_feed=False)  # a batch: BATCH records, ended by _commit
    tune_for_batches()  # as the worker does once its flows are built
    inputs = set(spec.inputs)
    clock = time.process_time
    began = time.monotonic()
    fed = 0
    for change in changes:
        if change.topic not in inputs:
            continue
        records = [run.record(change.topic, change.key, change.value, timestamp_ms=change.timestamp_ms)]
        end = end_of(change)
        if end is not None and end.topic in inputs:  # a flow that joins transactions reads their ENDs too
            records.append(run.record(end.topic, end.key, end.value, timestamp_ms=end.timestamp_ms))
        started = clock()
        await run.feed(records)
        spent = clock() - started
        cost = result.kinds.get(change.kind)
        if cost is None:
            cost = result.kinds[change.kind] = KindCost()
        cost.records += 1
        cost.cpu_s += spent
        fed += 1
        if fed % BATCH == 0:
            _commit(run, result)
    _commit(run, result)
    result.wall_s = time.monotonic() - began
    return result


def decode_costs(sample: int = DECODE_SAMPLE) -> dict[str, KindCost]:
    """CPU per record kind of decoding the mixes' records alone, the first step of every flow's handler."""
    costs: dict[str, KindCost] = {}
    clock = time.process_time
    for mix in MIXES.values():
        for n, change in enumerate(mix(Debezium(), sample)):
            if n >= sample:
                break
            started = clock()
            decode(change.value, change.key, topic=change.topic)
            spent = clock() - started
            cost = costs.setdefault(change.kind, KindCost())
            cost.records += 1
            cost.cpu_s += spent
    return costs


def build(names: Iterable[str], context: FlowContext) -> list[FlowSpec]:
    """The named flows, built from their flow files as a worker builds them (the environment's
    ``ISTHMUS_*`` variables are not read: the repository's systems, mappings and flow files are)."""
    built = build_flows(context, only=set(names), env={})
    if built.unavailable:
        raise BenchError("flows not built: " + "; ".join(f"{n}: {why}" for n, why in built.unavailable.items()))
    return built.flows


def measure(*, keys: Iterable[int], flows: Iterable[str] = tuple(FLOW_MIXES)) -> dict[str, object]:
    """Every flow of ``flows`` on each of its mixes at each key count; the decode-alone figures."""
    names = list(flows)
    unknown = sorted(set(names) - set(FLOW_MIXES))
    if unknown:
        raise BenchError(f"no record mix measures {', '.join(unknown)}; flows measured: {', '.join(FLOW_MIXES)}")
    context = FlowContext.load(env={})
    runs: list[FlowRun] = []
    for count in sorted(keys):
        for name in names:
            for mix in FLOW_MIXES[name]:
                spec = build([name], context)[0]  # a fresh flow each run: nothing kept from an earlier one
                gc.collect()
                result = asyncio.run(feed(spec, MIXES[mix](Debezium(), count), mix=mix, keys=count))
                if result.dead_letters:
                    raise BenchError(f"{name} dead-lettered {result.dead_letters:,} generated records of the {mix} "
                                     "mix; the generator (bench/debezium.py) no longer fits the flow")
                print(f"bench flows: {name}, {mix} mix, {count:,} keys: {result.records:,} records, "
                      f"{result.us_per_record:,.0f} µs/record ({result.records_per_cpu_s:,.0f} records/CPU-s), "
                      f"{result.wall_s:,.0f}s wall", flush=True)
                runs.append(result)
    return {"runs": [r.as_dict() for r in runs],
            "decode": {kind: {"records": c.records, "us_per_record": c.us_per_record}
                       for kind, c in decode_costs().items()},
            "target_records_per_cpu_s": TARGET_RECORDS_PER_CPU_S}


def rows(result: dict[str, object], *, machine: str, measured: str) -> list[Row]:
    """BENCHMARKS.md rows of a :func:`measure` result: per flow, mix and key count the CPU per source record
    (with the target for the customer flow's sync mix), then the same per record kind; decoding alone last."""
    out: list[Row] = []
    target: int = result["target_records_per_cpu_s"]  # type: ignore[assignment]
    for run in result["runs"]:  # type: ignore[attr-defined]
        where = f"{run['flow']}, {run['mix']} mix, {run['keys']:,} keys"
        customers = run["flow"] == "isthmus-customers" and run["mix"] == "customers"
        out.append(Row(benchmark="flow handler CPU", figure=f"{where}: CPU per source record ({run['records']:,})",
                       value=f"{run['us_per_record']:,.0f} µs ({run['records_per_cpu_s']:,.0f} records/CPU-s)",
                       target=f"≥ {target:,} records/CPU-s" if customers else "",
                       met=verdict(run["records_per_cpu_s"] >= target) if customers else "",
                       machine=machine, measured=measured))
        out.append(Row(benchmark="flow handler CPU", figure=f"{where}: per record kind, µs",
                       value="; ".join(f"{kind} {k['us_per_record']:,.0f}" for kind, k in run["kinds"].items()),
                       machine=machine, measured=measured))
    decoded: dict[str, dict[str, float]] = result["decode"]  # type: ignore[assignment]
    out.append(Row(benchmark="flow handler CPU", figure="Debezium JSON decode alone (streams.codecs.decode), µs",
                   value="; ".join(f"{kind} {k['us_per_record']:,.0f}" for kind, k in decoded.items()),
                   machine=machine, measured=measured))
    return out
