"""The fault switch: each mode does what it promises, on both apps, and a refused write is not applied."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from reference_support import Apps, unique


def _crm_customers(apps: Apps, name: str) -> int:
    return int(apps.place.crm_rows("SELECT count(*) AS n FROM customers WHERE name = %s", (name,))[0]["n"])


def _erp_products(apps: Apps, sku: str) -> int:
    return int(apps.place.erp_rows("SELECT count(*) AS n FROM products WHERE sku = %s", (sku,))[0]["n"])


def _write_crm(apps: Apps, name: str, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return apps.crm.post("/customers", json={"name": name}, headers=headers)


def _write_erp(apps: Apps, sku: str, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return apps.erp.post(
        "/products", json={"sku": sku, "description": "Fault test", "unit_price": 1}, headers=headers
    )


@pytest.mark.parametrize("system", ["crm", "erp"])
def test_error_mode_fails_the_next_writes_and_applies_none(apps: Apps, system: str) -> None:
    client = apps.crm if system == "crm" else apps.erp
    plan = client.post("/_faults", json={"mode": "error", "status": 503, "count": 2})
    names = [unique("Fault ") for _ in range(3)]
    skus = [unique("F-") for _ in range(3)]

    answers = [
        (_write_crm(apps, n) if system == "crm" else _write_erp(apps, s))
        for n, s in zip(names, skus, strict=True)
    ]

    assert plan.status_code == 200 and plan.json()["active"]["remaining"] == 2
    assert [a.status_code for a in answers] == [503, 503, 201]
    assert answers[0].json()["fix"]
    counts = [
        (_crm_customers(apps, n) if system == "crm" else _erp_products(apps, s))
        for n, s in zip(names, skus, strict=True)
    ]
    assert counts == [0, 0, 1]
    assert client.get("/_faults").json() == {"active": None, "applied": 2}


def test_reads_pass_unless_the_plan_scopes_them(apps: Apps) -> None:
    apps.crm.post("/_faults", json={"mode": "error", "status": 500, "count": 1})
    read = apps.crm.get("/customers", params={"limit": 1})
    apps.crm.post("/_faults", json={"mode": "error", "status": 502, "count": 1, "scope": "all"})
    scoped = apps.crm.get("/customers", params={"limit": 1})

    assert read.status_code == 200
    assert scoped.status_code == 502


@pytest.mark.parametrize("system", ["crm", "erp"])
def test_throttle_mode_answers_429_with_retry_after_and_applies_nothing(apps: Apps, system: str) -> None:
    client = apps.crm if system == "crm" else apps.erp
    client.post("/_faults", json={"mode": "throttle", "retry_after": 2, "count": 1})
    name, sku = unique("Throttle "), unique("R-")

    throttled = _write_crm(apps, name) if system == "crm" else _write_erp(apps, sku)

    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert (_crm_customers(apps, name) if system == "crm" else _erp_products(apps, sku)) == 0


@pytest.mark.parametrize("system", ["crm", "erp"])
def test_latency_mode_adds_at_least_the_delay(apps: Apps, system: str) -> None:
    client = apps.crm if system == "crm" else apps.erp
    client.post("/_faults", json={"mode": "latency", "ms": 400, "count": 1})
    name, sku = unique("Slow "), unique("L-")

    started = time.monotonic()
    slowed = _write_crm(apps, name) if system == "crm" else _write_erp(apps, sku)
    elapsed = time.monotonic() - started

    assert slowed.status_code == 201
    assert elapsed >= 0.4
    assert (_crm_customers(apps, name) if system == "crm" else _erp_products(apps, sku)) == 1


@pytest.mark.parametrize("system", ["crm", "erp"])
def test_outage_mode_fails_every_request_until_cleared(apps: Apps, system: str) -> None:
    client = apps.crm if system == "crm" else apps.erp
    client.post("/_faults", json={"mode": "outage", "seconds": 60})
    name, sku = unique("Outage "), unique("O-")

    health = client.get("/health")
    write = _write_crm(apps, name) if system == "crm" else _write_erp(apps, sku)
    cleared = client.delete("/_faults")

    assert health.status_code == 503 and write.status_code == 503
    assert 1 <= int(write.headers["Retry-After"]) <= 60
    assert (_crm_customers(apps, name) if system == "crm" else _erp_products(apps, sku)) == 0
    assert cleared.json()["active"] is None
    assert client.get("/health").status_code == 200


def test_a_lost_answer_is_recovered_by_retrying_with_the_same_key(apps: Apps, key: Callable[[], str]) -> None:
    """``phase: after`` applies the write and loses the answer: the retry must not write twice."""
    apps.crm.post("/_faults", json={"mode": "error", "status": 504, "phase": "after", "count": 1})
    name, idem = unique("Lost answer "), key()

    lost = _write_crm(apps, name, idem)
    retried = _write_crm(apps, name, idem)

    assert lost.status_code == 504
    assert retried.status_code == 201 and retried.headers["Idempotency-Key-Status"] == "replayed"
    assert _crm_customers(apps, name) == 1


def test_a_bad_fault_plan_names_the_field(apps: Apps) -> None:
    refused = apps.erp.post("/_faults", json={"mode": "error", "status": 404})

    assert refused.status_code == 422 and refused.json()["field"] == "status"
