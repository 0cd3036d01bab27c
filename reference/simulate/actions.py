"""What a simulated user does: each action reads what it edits (for its version), then writes with an
``Idempotency-Key`` and ``If-Match``, as a careful client would. Answers are classified, never raised."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from reference.generate.data import CITIES, GIVEN, STREETS, SURNAMES, TRADES, WORDS

OK, CONFLICT, THROTTLED, CLIENT_ERROR, SERVER_ERROR, TRANSPORT_ERROR, SKIPPED = (
    "ok", "conflict", "throttled", "client_error", "server_error", "transport_error", "skipped")


def classify(status: int) -> str:
    if 200 <= status < 300:
        return OK
    if status in (409, 412):
        return CONFLICT
    if status == 429:
        return THROTTLED
    return CLIENT_ERROR if status < 500 else SERVER_ERROR


class Failed(Exception):
    """A request of an action did not succeed; carries the outcome to count."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


@dataclass
class World:
    """What the simulator knows exists in the two systems; grown by its own creations."""

    customers: list[str] = field(default_factory=list)
    crm_products: list[str] = field(default_factory=list)
    accounts: list[int] = field(default_factory=list)
    stock: list[tuple[str, str]] = field(default_factory=list)
    open_orders: list[int] = field(default_factory=list)


class Actor:
    def __init__(self, *, crm: httpx.Client, erp: httpx.Client, rng: random.Random, world: World) -> None:
        self.crm = crm
        self.erp = erp
        self.rng = rng
        self.world = world
        self.run_id = uuid.uuid4().hex[:12]
        self.sequence = 0

    def _key(self) -> str:
        self.sequence += 1
        return f"sim-{self.run_id}-{self.sequence}"

    def _call(self, client: httpx.Client, method: str, path: str, *, json: Any = None,
              etag: str | None = None, write: bool = True) -> httpx.Response:
        headers = {"Idempotency-Key": self._key()} if write else {}
        if etag:
            headers["If-Match"] = etag
        try:
            response = client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise Failed(TRANSPORT_ERROR) from exc
        if not response.is_success:
            raise Failed(classify(response.status_code))
        return response

    def _read(self, client: httpx.Client, path: str) -> tuple[dict[str, Any], str | None]:
        response = self._call(client, "GET", path, write=False)
        body: dict[str, Any] = response.json()
        return body, response.headers.get("ETag")

    def discover(self) -> None:
        """Learn a first page of each kind of record (a few hundred are plenty to edit)."""
        world = self.world
        world.customers = [c["customer_number"] for c in self._items(self.crm, "/customers?limit=500")]
        world.crm_products = [p["sku"] for p in self._items(self.crm, "/products?limit=500")]
        world.accounts = [a["account_id"] for a in self._items(self.erp, "/accounts?active=true&limit=500")]
        world.stock = [(s["sku"], s["warehouse_code"]) for s in self._items(self.erp, "/stock?limit=1000")]
        for status in ("reserved", "shipped", "invoiced"):
            orders = self._items(self.erp, f"/orders?status={status}&limit=200")
            world.open_orders += [o["order_id"] for o in orders]

    def _items(self, client: httpx.Client, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._read(client, path)[0]["items"]
        return items

    # CRM

    def _person(self) -> tuple[str, str]:
        return self.rng.choice(GIVEN), self.rng.choice(SURNAMES)

    def create_customer(self) -> None:
        first, last = self._person()
        city, postal = self.rng.choice(CITIES)
        body = {
            "name": f"{city} {self.rng.choice(WORDS)} {self.rng.choice(TRADES)} Co., Ltd.",
            "email": f"info@{self.rng.choice(WORDS).lower()}{self.rng.randint(1, 99999)}.example.cn",
            "contacts": [{"first_name": first, "last_name": last, "role": "purchasing",
                          "email": f"{first}.{last}@example.cn".lower()}],
            "addresses": [{"kind": "billing", "city": city,
                           "line1": f"{self.rng.randint(1, 999)} {self.rng.choice(STREETS)}",
                           "postal_code": postal, "country": "CN"}],
        }
        created = self._call(self.crm, "POST", "/customers", json=body).json()
        self.world.customers.append(created["customer_number"])

    def rename_customer(self) -> None:
        number = self.rng.choice(self.world.customers)
        customer, etag = self._read(self.crm, f"/customers/{number}")
        name = customer["name"].split(" (")[0] + f" ({self.rng.choice(WORDS)} branch)"
        self._call(self.crm, "PATCH", f"/customers/{number}", json={"name": name[:200]}, etag=etag)

    def edit_contact(self) -> None:
        number = self.rng.choice(self.world.customers)
        contacts = self._read(self.crm, f"/customers/{number}/contacts")[0]["items"]
        if not contacts:
            first, last = self._person()
            self._call(self.crm, "POST", f"/customers/{number}/contacts",
                       json={"first_name": first, "last_name": last})
            return
        contact = self.rng.choice(contacts)
        phone = f"+86 1{self.rng.randint(30, 99)} {self.rng.randint(1000, 9999)} " \
                f"{self.rng.randint(1000, 9999)}"
        self._call(self.crm, "PATCH", f"/customers/{number}/contacts/{contact['id']}", json={"phone": phone},
                   etag=f'"{contact["version"]}"')

    def edit_address(self) -> None:
        number = self.rng.choice(self.world.customers)
        addresses = {a["kind"]: a for a in self._read(self.crm, f"/customers/{number}/addresses")[0]["items"]}
        city, postal = self.rng.choice(CITIES)
        body = {"line1": f"{self.rng.randint(1, 2999)} {self.rng.choice(STREETS)}", "city": city,
                "postal_code": postal, "country": "CN"}
        current = addresses.get("shipping")
        etag = f'"{current["version"]}"' if current else None
        self._call(self.crm, "PUT", f"/customers/{number}/addresses/shipping", json=body, etag=etag)

    def create_order(self) -> None:
        number = self.rng.choice(self.world.customers)
        products = self.world.crm_products
        skus = self.rng.sample(products, k=min(len(products), self.rng.randint(1, 3)))
        lines = [{"sku": sku, "quantity": str(self.rng.randint(1, 10))} for sku in skus]
        self._call(self.crm, "POST", "/orders", json={"customer_number": number, "lines": lines})

    # ERP

    def _edit_account(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        account_id = self.rng.choice(self.world.accounts)
        account, etag = self._read(self.erp, f"/accounts/{account_id}")
        self._call(self.erp, "PATCH", f"/accounts/{account_id}", json=change(account), etag=etag)

    def change_credit_limit(self) -> None:
        self._edit_account(lambda _: {"credit_limit": str(Decimal(self.rng.randint(10, 500)) * 1000)})

    def change_payment_terms(self) -> None:
        self._edit_account(lambda _: {"payment_terms": self.rng.choice(("NET15", "NET30", "NET45", "NET60"))})

    def toggle_blocked(self) -> None:
        self._edit_account(lambda account: {"blocked": not account["blocked"]})

    def receive_stock(self) -> None:
        sku, warehouse = self.rng.choice(self.world.stock)
        self._call(self.erp, "POST", f"/stock/{sku}/{warehouse}/receipts",
                   json={"quantity": str(self.rng.randint(10, 500))})

    def progress_order(self) -> None:
        order_id = self.rng.choice(self.world.open_orders)
        order, etag = self._read(self.erp, f"/orders/{order_id}")
        target = {"reserved": "shipped", "shipped": "invoiced", "invoiced": "paid"}.get(order["status"])
        if target is None:
            self.world.open_orders.remove(order_id)
            raise Failed(SKIPPED)
        body: dict[str, Any] = {"status": target}
        if target == "shipped":
            body["tracking_no"] = f"SF{self.rng.randint(10**9, 10**10 - 1)}"
        self._call(self.erp, "PATCH", f"/orders/{order_id}", json=body, etag=etag)
        if target == "paid":
            self.world.open_orders.remove(order_id)


@dataclass(frozen=True)
class Action:
    name: str
    weight: int
    run: Callable[[Actor], None]
    ready: Callable[[World], bool]


ACTIONS: tuple[Action, ...] = (
    Action("crm.create_customer", 2, Actor.create_customer, lambda w: True),
    Action("crm.rename_customer", 3, Actor.rename_customer, lambda w: bool(w.customers)),
    Action("crm.edit_contact", 3, Actor.edit_contact, lambda w: bool(w.customers)),
    Action("crm.edit_address", 2, Actor.edit_address, lambda w: bool(w.customers)),
    Action("crm.create_order", 2, Actor.create_order, lambda w: bool(w.customers and w.crm_products)),
    Action("erp.change_credit_limit", 2, Actor.change_credit_limit, lambda w: bool(w.accounts)),
    Action("erp.change_payment_terms", 1, Actor.change_payment_terms, lambda w: bool(w.accounts)),
    Action("erp.toggle_blocked", 1, Actor.toggle_blocked, lambda w: bool(w.accounts)),
    Action("erp.receive_stock", 3, Actor.receive_stock, lambda w: bool(w.stock)),
    Action("erp.progress_order", 3, Actor.progress_order, lambda w: bool(w.open_orders)),
)
