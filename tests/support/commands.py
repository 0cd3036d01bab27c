"""Command records as a flow would produce them, for the tests that feed a sink (tests/sinks, `isthmus status`'s)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


def command(*, target: str, operation: str, payload_type: str, entity_key: str, payload: Mapping[str, Any],
            key: str | None = None, changed: Sequence[str] = (), entity_type: str | None = None,
            reads_refusals: bool | None = None) -> dict[str, Any]:
    """A Command record as a flow would produce it (``reads_refusals`` None: the schema's default, true)."""
    full = payload_type if "." in payload_type else f"isthmus.canonical.{payload_type}"
    command_id = str(uuid.uuid4())
    return {
        "command_id": command_id,
        "idempotency_key": key or f"sink-test:{command_id}",
        "target": target,
        "operation": operation,
        "entity_type": entity_type or full,
        "entity_key": entity_key,
        "payload_type": full,
        "payload": json.dumps(payload),
        "changed_fields": list(changed),
        "source": {"system": "crm" if target == "erp" else "erp", "connector": "test", "database": "test",
                   "table": "test", "commit_time": datetime.now(UTC)},
        "causation": {"event_id": f"test:{command_id}", "correlation_id": f"test-{entity_key}"},
        "created_at": datetime.now(UTC),
        **({} if reads_refusals is None else {"reads_refusals": reads_refusals}),
    }


def account_payload(number: str, *, code: str | None = None, name: str = "Test account",
                    credit_limit: str | None = None, account_id: int | None = None,
                    active: bool = True) -> dict[str, Any]:
    return {"account_id": account_id, "account_code": code or "T" + number[2:], "crm_customer_number": number,
            "name": name, "email": None, "phone": None,
            "billing_address": {"kind": "billing", "line1": "1 Test Road", "line2": None, "city": "Shanghai",
                                "postal_code": "200000", "country": "CN"},
            "credit_limit": credit_limit, "payment_terms": "NET30", "blocked": False, "active": active,
            "updated_at": None}
