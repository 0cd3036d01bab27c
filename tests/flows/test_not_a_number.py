"""A CRM credit limit that is PostgreSQL's NaN, as Debezium sends it under ``decimal.handling.mode: string``, is a
dead letter of the entity flow naming the mapping, the column, the value and the fix; nothing is sent (under
``precise`` Debezium sends null instead, which no flow can tell from a real null: mappings/README.md, "Values a
change does not carry")."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from streams.flows.context import FlowContext
from streams.flows.engine.local import LocalRun
from streams.flows.registry import build_flows

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parents[1] / "codecs" / "fixtures"
ENV = {"ISTHMUS_ERP_TIME_ZONE": "Asia/Shanghai"}


def _as_text(value: dict[str, Any], column: str, text: str) -> dict[str, Any]:
    """The CRM customer create of ``value`` with ``column`` sent as text, ``text`` (decimal.handling.mode: string)."""
    value = copy.deepcopy(value)
    for image in (f for f in value["schema"]["fields"] if f["field"] in ("before", "after")):
        image["fields"] = [{"field": column, "type": "string", "optional": True} if f["field"] == column else f
                           for f in image["fields"]]
    payload = value["payload"]
    payload.update(op="c", before=None, transaction=None)
    payload["after"][column] = text
    return value


@pytest.mark.parametrize("text", ["NAN", "POSITIVE_INFINITY"])
def test_a_nan_credit_limit_is_a_dead_letter_naming_the_column(text: str) -> None:
    (spec,) = build_flows(FlowContext.load(env=ENV), only={"isthmus-customers"}, env=ENV).flows
    captured = json.loads((FIXTURES / "crm_customers_u_1.json").read_text(encoding="utf-8"))
    run = LocalRun(spec)
    value = _as_text(captured["value"], "credit_limit", text)
    ctx = asyncio.run(run.feed([run.record("crm.crm.customers", json.dumps(captured["key"]).encode(),
                                           json.dumps(value).encode())]))
    (dead,) = ctx.dead_letters
    assert ctx.emitted == []
    assert "cannot use this crm customers change" in dead.reason
    assert re.search(rf"customer\.yaml:\d+ credit_limit \(column credit_limit\): '{text}' is NaN or an infinity, "
                     "which no decimal field holds", dead.reason)
    assert "CHECK (credit_limit NOT IN ('NaN', 'Infinity', '-Infinity'))" in dead.reason
