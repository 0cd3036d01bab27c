"""A user's own flow, loaded as a plugin without editing the core (examples/flow_plugin), runs like a built-in."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from reference.topics import CANONICAL_CUSTOMERS
from streams.flows.context import FlowContext
from streams.flows.engine.local import LocalRun
from streams.flows.registry import FlowPluginError, build_flows
from streams.stack.settings import PROJECT_ROOT


@pytest.fixture
def context(monkeypatch: pytest.MonkeyPatch) -> FlowContext:
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "examples" / "flow_plugin"))
    return FlowContext.load(env={})


def test_the_example_plugin_is_loaded_from_the_environment_and_alerts_once(context: FlowContext) -> None:
    flows = build_flows(context, only={"example-high-credit-alerts"},
                        env={"ISTHMUS_FLOW_PLUGINS": "high_credit_alerts:build"}).flows
    assert [f.name for f in flows] == ["example-high-credit-alerts"]
    run = LocalRun(flows[0])

    def customer(limit: str) -> bytes:
        return context.schemas.encode("isthmus.canonical.Customer", {
            "customer_number": "C-000777", "name": "Big Spender", "credit_limit": Decimal(limit)})

    records = [run.record(CANONICAL_CUSTOMERS, b"C-000777", customer(v))
               for v in ("5000.00", "250000.00", "300000.00", "100.00", "200000.00")]
    result = asyncio.run(run.feed(records))
    alerts = [json.loads(e.value or b"") for e in result.emitted]
    assert [a["credit_limit"] for a in alerts] == ["250000.00", "200000.00"]


def test_a_plugin_that_is_not_module_function_is_refused(context: FlowContext) -> None:
    with pytest.raises(FlowPluginError, match="not 'module:function'"):
        build_flows(context, env={"ISTHMUS_FLOW_PLUGINS": "high_credit_alerts"})
    with pytest.raises(FlowPluginError, match="cannot load"):
        build_flows(context, env={"ISTHMUS_FLOW_PLUGINS": "no_such_module:build"})
