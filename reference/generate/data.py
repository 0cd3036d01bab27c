"""The records the generator writes, made from nothing but the spec: the same seed gives the same data.

Each kind of record draws from its own ``random.Random`` seeded with the spec's seed and the kind's name, so
adding a product does not reshuffle every customer.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from reference.generate.exceptions import InvalidSpec

MAX_CUSTOMERS = 1_000_000
CENT = Decimal("0.01")

CITIES = (("Shanghai", "200000"), ("Beijing", "100000"), ("Guangzhou", "510000"), ("Shenzhen", "518000"),
          ("Hangzhou", "310000"), ("Chengdu", "610000"), ("Wuhan", "430000"), ("Nanjing", "210000"),
          ("Suzhou", "215000"), ("Tianjin", "300000"), ("Xi'an", "710000"), ("Qingdao", "266000"))
WORDS = ("Bright", "Golden", "Harmony", "Eastern", "Pacific", "Summit", "Jade", "Phoenix", "Silver",
         "Unity", "Prosper", "Evergreen", "Crystal", "Dragon", "Lotus", "Horizon", "Pioneer", "Zenith",
         "Orient", "Star")
TRADES = ("Trading", "Machinery", "Electronics", "Textiles", "Logistics", "Foods", "Chemicals", "Tools",
          "Components", "Packaging", "Instruments", "Materials")
SUFFIXES = ("Co., Ltd.", "Group", "Industrial Co.", "Technology Co., Ltd.", "Import & Export Co.")
SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
            "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo")
GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Lei", "Qiang", "Yan", "Jun", "Tao", "Hui", "Xin", "Yu", "Ping",
         "Hao", "Ling", "Bo", "Mei", "Chao", "Lan")
ROLES = ("purchasing", "finance", "logistics", "owner", "sales")
STREETS = ("Nanjing Road", "Huaihai Road", "Renmin Road", "Zhongshan Road", "Jiefang Avenue", "Binhai Road",
           "Century Avenue", "Keji Road", "Xinhua Street", "Changan Avenue")
ITEMS = ("Hex bolt M8", "Ball bearing 6204", "Steel pipe DN50", "LED panel 60x60", "Copper wire 2.5mm",
         "Hydraulic pump", "Safety gloves", "Cable tie 300mm", "PVC valve 32mm", "Servo motor 400W",
         "Circuit breaker 16A", "Air filter", "Conveyor belt 1m", "Torque wrench", "Thermal paste 1kg",
         "Pallet wrap", "Gear reducer", "Stainless sheet 2mm", "Relay 24V", "Paint primer 5L")
UOMS = ("EA", "EA", "EA", "BOX", "KG", "M")
WAREHOUSES = (("SH01", "Shanghai Pudong DC"), ("BJ01", "Beijing Daxing DC"), ("GZ01", "Guangzhou Baiyun DC"))


@dataclass(frozen=True, kw_only=True)
class GenerationSpec:
    customers: int
    seed: int
    orders_per_customer: int = 2
    skus: int = 200
    first_customer: int = 1
    first_order: int = 1
    sku_prefix: str = "SKU"
    as_of: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.customers <= MAX_CUSTOMERS:
            problems.append(f"--customers {self.customers} is out of range; use 1 to {MAX_CUSTOMERS:,}")
        if not 0 <= self.orders_per_customer <= 20:
            problems.append(f"--orders-per-customer {self.orders_per_customer} is out of range; use 0 to 20")
        if not 1 <= self.skus <= 100_000:
            problems.append(f"--skus {self.skus} is out of range; use 1 to 100,000")
        if self.first_customer < 1 or self.first_order < 1:
            problems.append("--first-customer and --first-order start at 1 or more")
        if not (self.sku_prefix.isascii() and self.sku_prefix.isalnum() and 1 <= len(self.sku_prefix) <= 20):
            problems.append(f"--sku-prefix {self.sku_prefix!r} must be 1 to 20 ASCII letters or digits")
        if self.as_of.tzinfo is None:
            problems.append("--as-of needs an offset, e.g. 2026-01-01T00:00:00+00:00")
        if problems:
            raise InvalidSpec("invalid generator options:\n  " + "\n  ".join(problems))

    def rng(self, kind: str) -> random.Random:
        return random.Random(f"{self.seed}/{kind}")


@dataclass(frozen=True, kw_only=True)
class ProductRecord:
    sku: str
    name: str
    price: Decimal
    uom: str


@dataclass(frozen=True, kw_only=True)
class StockRecord:
    sku: str
    warehouse_code: str
    on_hand: Decimal


@dataclass(frozen=True, kw_only=True)
class ContactRecord:
    first_name: str
    last_name: str
    email: str
    phone: str
    role: str


@dataclass(frozen=True, kw_only=True)
class AddressRecord:
    kind: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str


@dataclass(frozen=True, kw_only=True)
class OrderRecord:
    number: str
    status: str
    ordered_at: datetime
    lines: tuple[tuple[str, Decimal, Decimal], ...]

    @property
    def total(self) -> Decimal:
        return sum((q * p for _, q, p in self.lines), Decimal(0)).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True, kw_only=True)
class CustomerRecord:
    number: str
    name: str
    email: str
    phone: str
    contacts: tuple[ContactRecord, ...]
    addresses: tuple[AddressRecord, ...]
    orders: tuple[OrderRecord, ...] = field(default=())


def products(spec: GenerationSpec) -> list[ProductRecord]:
    rng = spec.rng("products")
    records = []
    for index in range(1, spec.skus + 1):
        item = rng.choice(ITEMS)
        price = Decimal(rng.randint(100, 99_999)) / 100
        records.append(ProductRecord(sku=f"{spec.sku_prefix}-{index:06d}", name=f"{item} #{index}",
                                     price=price, uom=rng.choice(UOMS)))
    return records


def warehouses() -> list[tuple[str, str]]:
    return list(WAREHOUSES)


def stock(spec: GenerationSpec, items: list[ProductRecord]) -> list[StockRecord]:
    rng = spec.rng("stock")
    return [StockRecord(sku=p.sku, warehouse_code=code, on_hand=Decimal(rng.randint(0, 5000)))
            for p in items for code, _ in WAREHOUSES]


def _phone(rng: random.Random) -> str:
    return f"+86 1{rng.randint(30, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"


def _address(rng: random.Random, kind: str) -> AddressRecord:
    city, postal = rng.choice(CITIES)
    return AddressRecord(kind=kind, line1=f"{rng.randint(1, 2999)} {rng.choice(STREETS)}",
                         line2=f"Floor {rng.randint(1, 40)}" if rng.random() < 0.4 else None, city=city,
                         postal_code=postal, country="CN")


def customers(spec: GenerationSpec, items: list[ProductRecord]) -> Iterator[CustomerRecord]:
    """Customers in number order, each with 1-3 contacts, a billing address, mostly a shipping address, and
    0 to ``orders_per_customer`` orders from the last 90 days before ``as_of``."""
    rng = spec.rng("customers")
    order_number = spec.first_order
    for index in range(spec.customers):
        number = spec.first_customer + index
        city, _ = rng.choice(CITIES)
        name = f"{city} {rng.choice(WORDS)} {rng.choice(TRADES)} {rng.choice(SUFFIXES)}"
        domain = f"{rng.choice(WORDS).lower()}{number}.example.cn"
        contacts = []
        for _ in range(rng.randint(1, 3)):
            first, last = rng.choice(GIVEN), rng.choice(SURNAMES)
            email = f"{first}.{last}@{domain}".lower()
            contacts.append(ContactRecord(first_name=first, last_name=last, email=email, phone=_phone(rng),
                                          role=rng.choice(ROLES)))
        addresses = [_address(rng, "billing")]
        if rng.random() < 0.8:
            addresses.append(_address(rng, "shipping"))
        orders = []
        for _ in range(rng.randint(0, spec.orders_per_customer)):
            picks = rng.sample(items, k=min(len(items), rng.randint(1, 4)))
            lines = tuple((p.sku, Decimal(rng.randint(1, 20)), p.price) for p in picks)
            ordered_at = spec.as_of - timedelta(seconds=rng.randint(0, 90 * 86_400))
            orders.append(OrderRecord(number=f"SO-{order_number:06d}", status="draft" if rng.random() < 0.1
                                      else "submitted", ordered_at=ordered_at, lines=lines))
            order_number += 1
        yield CustomerRecord(number=f"C-{number:06d}", name=name, email=f"info@{domain}", phone=_phone(rng),
                             contacts=tuple(contacts), addresses=tuple(addresses), orders=tuple(orders))
