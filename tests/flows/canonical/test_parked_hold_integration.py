"""A change whose look-up does not arrive is seen, on the real stack: in the worker's /metrics gauges and as a
hold on ``isthmus.holds`` once it has waited the (here short) hold time, released when the record arrives.

The canonical flow runs in this process under a name and topic prefix of its own, from the end of its inputs:
a CRM customer written before it started is unknown to it, so a new order of that customer waits for the
customer's look-up (``mappings/sales_order.yaml``: ``CustomerAccountXref`` by ``crm_customer_id``) until the
customer changes again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from kafka import TopicPartition
from prometheus_client import generate_latest
from psycopg.rows import dict_row
from support.events import end_positions, read_events
from support.flows import RunningFlow
from support.metrics import parse, value
from support.topics import Record, TopicReader
from support.waiting import eventually

from reference.topics import CRM_CUSTOMERS
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.canonical import CanonicalFlow
from streams.flows.context import FlowContext
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.flows.topics import HOLDS
from streams.stack.running import RunningStack
from streams.worker.metrics import worker_registry

pytestmark = pytest.mark.integration

HOLD_AFTER_S = 2.0


def _holds(bootstrap: str, schemas: SchemaStore, since: dict[int, int], key_prefix: str,
           until: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
    """The committed Hold records of keys starting with ``key_prefix`` written after ``since``."""

    def decode(record: Record) -> dict[str, Any] | None:
        key = record.text_key
        if key is None or not key.startswith(key_prefix) or not record.value:
            return None
        return dict(schemas.decode(record.value).value)

    start = {TopicPartition(HOLDS, p): offset for p, offset in since.items()}
    with TopicReader(bootstrap, [HOLDS], decode, start=start) as reader:
        return reader.until(f"hold records of {key_prefix}", lambda found: list(found) if until(found) else None,
                            timeout=timeout)


def _gauges(processor: FlowProcessor, name: str) -> tuple[float | None, float | None]:
    samples = parse(generate_latest(worker_registry("it", [processor], {})).decode())
    return (value(samples, "isthmus_flow_parked_records", worker="it", flow=name),
            value(samples, "isthmus_flow_parked_oldest_seconds", worker="it", flow=name))


def test_an_order_waiting_for_its_customer_is_counted_held_and_released(stack: RunningStack) -> None:
    bootstrap = stack.settings.bootstrap_servers
    tag = str(random.randrange(10**8, 10**9))
    number = f"C-7{tag}"
    context = FlowContext.load()
    flow = CanonicalFlow(schemas=context.schemas, mappings=context.mappings, systems=context.systems,
                         name=f"test-parked-{tag}", prefix=f"test-parked-{tag}.canonical")
    customers = end_positions(bootstrap, CRM_CUSTOMERS)
    with stack.connect_crm(options="-c search_path=crm", row_factory=dict_row, autocommit=True) as crm:
        row = crm.execute("INSERT INTO customers (customer_number, name) VALUES (%s, %s) RETURNING id",
                          (number, f"Parked {tag}")).fetchone()
        assert row is not None
        customer_id = row["id"]
        # the customer is in Kafka before the flow starts at the end of its inputs: the flow never saw it
        seen = read_events(bootstrap, CRM_CUSTOMERS, customers, lambda events: any(
            (e.value or {}).get("after", {}).get("customer_number") == number for e in events), timeout=60)
        assert any((e.value or {}).get("after", {}).get("customer_number") == number for e in seen)
        running = RunningFlow(flow.spec(), bootstrap, context.schemas)
        running.processor = FlowProcessor(flow.spec(), EngineSettings(
            bootstrap_servers=bootstrap, worker_id="it", hold_after_s=HOLD_AFTER_S, tick_interval_s=0.5),
            context.schemas)
        holds_since = end_positions(bootstrap, HOLDS)
        with running:
            crm.execute("INSERT INTO sales_orders (order_number, customer_id, total_amount) VALUES (%s, %s, 10)",
                        (f"SO-7{tag}", customer_id))
            key = f"{flow.name}:"
            held = _holds(bootstrap, context.schemas, holds_since, key, lambda found: bool(found), timeout=90)
            assert [h["state"] for h in held] == ["held"], held
            assert held[0]["cause"] == "waiting_for" and held[0]["flow"] == flow.name
            assert held[0]["waiting_for"] == f'CustomerAccountXref|crm_customer_id={customer_id}'
            assert str(held[0]["parked"]).startswith("crm.crm.sales_orders/")
            records, oldest = _gauges(running.processor, flow.name)
            assert records == 1 and oldest is not None and oldest >= HOLD_AFTER_S

            crm.execute("UPDATE customers SET name = %s WHERE id = %s", (f"Parked {tag} again", customer_id))
            both = _holds(bootstrap, context.schemas, holds_since, key, lambda found: len(found) >= 2, timeout=90)
            assert [h["state"] for h in both] == ["held", "released"], both
            assert both[1]["entity_key"] == held[0]["entity_key"]
            # the gauge is what the last tick (every 0.5 s here) counted
            eventually("the parked gauges back at 0", lambda: _gauges(running.processor, flow.name) == (0, 0),
                       timeout=30)
