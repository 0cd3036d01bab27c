"""An example flow plugin: alert once when a customer's credit limit rises above a threshold.

It is a user's own flow, added without editing Isthmus: publish ``build`` under the entry-point group
``isthmus.flows`` in your package's pyproject.toml::

    [project.entry-points."isthmus.flows"]
    example-high-credit-alerts = "high_credit_alerts:build"

(the entry point's name is the flow's name: a worker builds only the flows it runs), or name it at run time:
``ISTHMUS_FLOW_PLUGINS=example-high-credit-alerts=high_credit_alerts:build isthmus worker``. It then runs
exactly once like the built-in flows: its store, its output and its input offsets commit together.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal

from streams.flows.context import FlowContext
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.topics import canonical_topic

#: The reconciled customers the reference customers flow publishes (flows/customers.yaml `publish:`).
CANONICAL_CUSTOMERS = canonical_topic("customers")
ALERTS_TOPIC = "isthmus.alerts.high-credit"


def build(context: FlowContext) -> FlowSpec:
    threshold = Decimal(os.environ.get("HIGH_CREDIT_THRESHOLD", "100000"))

    def handle(record: Incoming, ctx: Context) -> None:
        if record.value is None:
            return
        customer = context.schemas.decode(record.value).value
        number = customer["customer_number"]
        limit = customer.get("credit_limit")
        above = limit is not None and Decimal(limit) > threshold
        alerted = ctx.stores["alerted"]
        if above and alerted.get(number) is None:
            alerted.put(number, {"credit_limit": str(limit)})
            ctx.emit(ALERTS_TOPIC, key=number, value=json.dumps(
                {"customer_number": number, "credit_limit": str(limit), "threshold": str(threshold)}).encode())
        elif not above and alerted.get(number) is not None:
            alerted.put(number, None)  # alert again on the next crossing

    return FlowSpec(name="example-high-credit-alerts", inputs=(CANONICAL_CUSTOMERS,), handler=handle,
                    stores=("alerted",), outputs=(ALERTS_TOPIC,),
                    description="alert once when a credit limit rises above HIGH_CREDIT_THRESHOLD")
