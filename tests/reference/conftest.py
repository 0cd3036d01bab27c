"""Fixtures for the reference apps: API tests share both apps, over a schema and a database of their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from reference_support import Apps, ErpGoods, isolated_place, running_apps, unique

from streams.stack.running import RunningStack


@pytest.fixture(scope="session")
def apps(stack: RunningStack) -> Iterator[Apps]:
    """Both apps, shared by the API tests of a session, over a schema and a database of their own."""
    with isolated_place(stack, "api") as place, running_apps(place) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that set a fault plan leaves none behind for the next one."""
    yield
    if "apps" in request.fixturenames:
        running: Apps = request.getfixturevalue("apps")
        running.crm.delete("/_faults")
        running.erp.delete("/_faults")


@pytest.fixture
def key() -> Callable[[], str]:
    """Fresh Idempotency-Key values."""
    return lambda: f"test-{uuid.uuid4()}"


@pytest.fixture
def erp_goods(apps: Apps) -> ErpGoods:
    sku, warehouse = unique("T-"), unique("W")[:10]
    assert (
        apps.erp.post(
            "/products", json={"sku": sku, "description": "Test bolt", "unit_price": "2.50"}
        ).status_code
        == 201
    )
    assert apps.erp.post("/warehouses", json={"code": warehouse, "name": "Test DC"}).status_code == 201
    assert apps.erp.put(f"/stock/{sku}/{warehouse}", json={"on_hand": "10"}).status_code == 201
    account = apps.erp.post("/accounts", json={"name": "Test account", "payment_terms": "NET30"})
    assert account.status_code == 201, account.text
    return ErpGoods(sku=sku, warehouse=warehouse, account_id=account.json()["account_id"])
