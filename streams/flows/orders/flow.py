"""The order-to-cash flow (``isthmus-orders``): CRM orders to the ERP, ERP status and balances back to the
CRM, and the reconciled orders (``isthmus.canonical.reconciled-orders``, the customer-360 view's orders).

Each record is decoded, applied to the state, and then the orders, balances and views it touched are
looked at once: a transaction's header and lines are therefore judged together. CRM order changes wait
for their whole source transaction (:mod:`streams.flows.orders.txjoin`). An invoice or payment of an
account whose customer is not known yet is parked and replayed when the account's customer link arrives.
Input that cannot be decoded or mapped goes to the dead-letter topic with the reason; nothing else stops.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, Op, Tombstone, TransactionEvent, TransactionStatus, decode
from streams.errors import IsthmusError
from streams.flows import topics
from streams.flows.commands import Cause, Command, emit_command, payload_json
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.orders import balance, order
from streams.flows.orders.exceptions import IncompleteTransaction, UnexpectedRecord
from streams.flows.orders.mapper import Mapper
from streams.flows.orders.state import STORES, State
from streams.flows.orders.txjoin import Joined, TransactionJoin
from streams.flows.parking import ParkingLot
from streams.mapping import LookupMissing
from streams.systems import Systems

NAME = "isthmus-orders"
#: The systems orders come from and go to, by their names in systems/.
CRM, ERP = "crm", "erp"
#: The CRM tables whose changes are joined per source transaction.
JOINED_TABLES = ("sales_orders", "sales_order_lines")


@dataclass(frozen=True, kw_only=True)
class OrderTopics:
    """The flow's inputs, as the systems' files name their topics."""

    crm_transaction: str
    crm_sales_orders: str
    crm_sales_order_lines: str
    crm_customers: str
    erp_accounts: str
    erp_sales_orders: str
    erp_invoices: str
    erp_payments: str
    #: The names a CRM transaction's END counts the joined tables under (``<schema>.<table>``).
    joined: tuple[str, ...]

    @classmethod
    def of(cls, systems: Systems) -> OrderTopics:
        crm, erp = systems[CRM], systems[ERP]
        return cls(crm_transaction=crm.transaction_topic, crm_sales_orders=crm.topic("sales_orders"),
                   crm_sales_order_lines=crm.topic("sales_order_lines"), crm_customers=crm.topic("customers"),
                   erp_accounts=erp.topic("accounts"), erp_sales_orders=erp.topic("sales_orders"),
                   erp_invoices=erp.topic("invoices"), erp_payments=erp.topic("payments"),
                   joined=tuple(f"{crm.topics.namespace}.{table}" for table in JOINED_TABLES))

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.crm_transaction, self.crm_sales_orders, self.crm_sales_order_lines, self.crm_customers,
                self.erp_accounts, self.erp_sales_orders, self.erp_invoices, self.erp_payments)


class OrdersFlow:
    def __init__(self, *, schemas: SchemaStore, mapper: Mapper, name: str = NAME,
                 orders_topic: str = topics.RECONCILED_ORDERS) -> None:
        self.schemas = schemas
        self.mapper = mapper
        self.name = name
        self.orders_topic = orders_topic
        self.systems = mapper.systems
        self.topics = OrderTopics.of(mapper.systems)

    @property
    def stage(self) -> str:
        return f"flow.{self.name}"

    def spec(self) -> FlowSpec:
        return FlowSpec(name=self.name, inputs=self.topics.inputs, handler=self.handle, stores=STORES,
                        outputs=(self.orders_topic,), compacted=(self.orders_topic,),
                        description="CRM orders to ERP orders (joined per source transaction); ERP status, "
                                    "invoices and payments back to the CRM; the reconciled orders")

    def handle(self, record: Incoming, ctx: Context) -> None:
        _Step(self, ctx).run(record)


class _Step:
    """What one input record does: apply changes, then judge the orders, balances and views it touched."""

    def __init__(self, flow: OrdersFlow, ctx: Context) -> None:
        self.flow = flow
        self.mapper = flow.mapper
        self.ctx = ctx
        self.state = State(ctx)
        self.topics = flow.topics
        self.join = TransactionJoin(ctx.stores["tx"], flow.topics.joined)
        self.orders: dict[str, Cause] = {}
        self.customers: dict[str, Cause] = {}

    def run(self, record: Incoming) -> None:
        self.record(record)
        commands: list[Command] = []
        for number, cause in self.orders.items():
            commands += order.evaluate(self.state, self.mapper, number, cause)
            customer = self.state.customer_number_of_crm(self.state.get("orders", number).get("crm_customer_id"))
            if customer is not None:
                self.customers.setdefault(customer, cause)
        for customer, cause in self.customers.items():
            commands += balance.evaluate(self.state, customer, cause)
        for command in commands:
            emit_command(self.ctx, self.flow.schemas, command, systems=self.flow.systems)
        for number in self.orders:
            self.publish(number)

    def reject(self, record: Incoming, error: Exception) -> None:
        self.ctx.dead_letter(record, reason=f"{type(error).__name__}: {error}", stage=self.flow.stage)

    def record(self, record: Incoming) -> None:
        try:
            decoded = decode(record.value, record.key, topic=record.topic, where=record.position)
            if isinstance(decoded, Tombstone):
                return
            if record.topic == self.topics.crm_transaction:
                if not isinstance(decoded, TransactionEvent):
                    raise UnexpectedRecord(f"{type(decoded).__name__} on the transaction topic {record.topic}")
                if decoded.status is TransactionStatus.END:
                    self.joined(self.join.end(decoded))
                return
            if not isinstance(decoded, ChangeEvent):
                raise UnexpectedRecord(f"{type(decoded).__name__} on the table topic {record.topic}; "
                                       "only row changes are expected there")
            if self.join.joins(decoded):
                self.joined(self.join.add(record, decoded))
                return
            self.change(record, decoded)
        except IsthmusError as exc:
            self.reject(record, exc)

    def joined(self, released: Iterable[Joined]) -> None:
        for joined in released:
            if not joined.complete:
                error = IncompleteTransaction(
                    f"source transaction {joined.tx_key} is missing its changes of {', '.join(joined.missing)} "
                    "(a later transaction's arrived first); its order is not sent half-written")
                for record in joined.records:
                    self.reject(record, error)
                continue
            events = [(r, decode(r.value, r.key, topic=r.topic, where=r.position)) for r in joined.records]
            changes = [(r, e) for r, e in events if isinstance(e, ChangeEvent)]
            problem = self.check_all(changes)
            if problem is not None:
                for record, _ in changes:
                    self.reject(record, IncompleteTransaction(
                        f"source transaction {joined.tx_key} has a change that cannot be mapped, so none of it "
                        f"is used: {problem}"))
                continue
            for record, event in changes:
                self.change(record, event)

    def check_all(self, changes: list[tuple[Incoming, ChangeEvent]]) -> str | None:
        """Map a transaction's changes without keeping them: a transaction is used whole or not at all."""
        for record, event in changes:
            try:
                self.check(event)
            except IsthmusError as exc:
                row = event.row or {}
                names = ", ".join(f"{k}={row.get(k)}" for k in ("order_number", "order_id", "line_no") if k in row)
                return f"{record.position} ({event.table} {names}): {exc}"
        return None

    def check(self, event: ChangeEvent) -> None:
        row = event.row
        assert row is not None
        if event.table == "sales_order_lines" and event.op is not Op.DELETE:
            self.mapper.validate("sales_order_line", "crm_sales_order_lines", row, self.state.lookup)
        elif event.table == "sales_orders":
            self.mapper.validate("sales_order", "crm_sales_orders", row, self.state.lookup)

    def change(self, record: Incoming, event: ChangeEvent) -> None:
        topic = record.topic
        if event.op is Op.TRUNCATE:
            return
        found = self.flow.systems.by_topic(topic)
        if found is None:
            raise UnexpectedRecord(f"{record.position}: {topic} is no declared system's topic")
        cause = Cause.of(event, found[0].name, record)
        if topic == self.topics.crm_sales_orders:
            self.orders[order.apply_crm_header(self.state, self.mapper, event, record)] = cause
        elif topic == self.topics.crm_sales_order_lines:
            number = order.apply_crm_line(self.state, self.mapper, event)
            if number is not None:
                self.orders[number] = cause
        elif topic == self.topics.erp_sales_orders:
            for change in self.mapper.change("sales_order", event, ERP, self.state.lookup):
                self.orders[order.apply_erp_order(self.state, change, cause)] = cause
        elif topic == self.topics.crm_customers:
            self.crm_customer(event, cause)
        elif topic == self.topics.erp_accounts:
            self.erp_account(event, cause)
        elif topic in (self.topics.erp_invoices, self.topics.erp_payments):
            self.money(record, event, cause)

    def crm_customer(self, event: ChangeEvent, cause: Cause) -> None:
        for change in self.mapper.change("customer", event, CRM, self.state.lookup):
            number = str(change.key)
            customer = self.state.get("customers", number)
            crm = {**(State.load(customer.get("crm")) or {}), **change.values}
            customer.update(crm=State.dump(crm), crm_at=State.dump(change.commit_time))
            self.state.put("customers", number, customer)
            if event.op is not Op.DELETE and event.after is not None:
                balance.observe_crm(self.state, number, event.after.get("open_balance"))
            crm_id = crm.get("crm_customer_id")
            if crm_id is not None:
                self.state.link(f"crm:{crm_id}", customer_number=number)
            self.touch_customer(number, cause)

    def erp_account(self, event: ChangeEvent, cause: Cause) -> None:
        for change in self.mapper.change("customer", event, ERP, self.state.lookup):
            number = str(change.key)
            customer = self.state.get("customers", number)
            erp = {**(State.load(customer.get("erp")) or {}), **change.values}
            customer.update(erp=State.dump(erp), erp_at=State.dump(change.commit_time))
            self.state.put("customers", number, customer)
            account = erp.get("erp_account_id")
            if account is not None:
                self.state.link(f"erp:{account}", customer_number=number)
                self.unpark(f"erp:{account}")
            self.touch_customer(number, cause)

    def touch_customer(self, number: str, cause: Cause) -> None:
        """The customer or its account changed: its waiting orders may go now, and its view changes."""
        self.customers[number] = cause
        crm_id = (State.load(self.state.get("customers", number).get("crm")) or {}).get("crm_customer_id")
        if crm_id is not None:
            for order_number in self.state.customer_orders(crm_id):
                self.orders.setdefault(order_number, cause)

    def money(self, record: Incoming, event: ChangeEvent, cause: Cause) -> None:
        """An invoice or payment: the account's open balance, and (invoices) the customer's invoices."""
        row = event.row
        assert row is not None
        try:
            changes = self.mapper.change("customer", event, ERP, self.state.lookup)
        except LookupMissing:
            self.park(f"erp:{row.get('account_id')}", record)
            return
        for change in changes:
            account = balance.apply(self.state, change)
            self.mark_account(account, change.commit_time)
        if record.topic == self.topics.erp_invoices:
            for change in self.mapper.change("invoice", event, ERP, self.state.lookup):
                entry = self.state.get("accounts", str(row["account_id"]))
                invoices = dict(entry.get("invoices") or {})
                previous = State.load(invoices.get(str(change.key))) or {}
                invoices[str(change.key)] = State.dump({**previous, **change.values})
                self.state.put("accounts", str(row["account_id"]), {**entry, "invoices": invoices})
        number = self.state.customer_number_of_account(row.get("account_id"))
        if number is not None:
            self.customers[number] = cause

    def mark_account(self, account: str, at: dt.datetime) -> None:
        entry = self.state.get("accounts", account)
        previous = State.load(entry.get("at"))
        if previous is None or at > previous:
            self.state.put("accounts", account, {**entry, "at": State.dump(at)})

    def park(self, key: str, record: Incoming) -> None:
        ParkingLot(self.state.store("parked")).park(key, record)

    def unpark(self, key: str) -> None:
        for record in ParkingLot(self.state.store("parked")).release(key):
            self.record(record)

    def publish(self, number: str) -> None:
        """Publish the order's reconciled record (the customer-360 view's orders part) when it changed."""
        record = State.load(self.state.get("orders", number).get("canonical"))
        if record is None:
            return
        digest = hashlib.sha256(payload_json(record).encode()).hexdigest()
        if (self.ctx.stores["views"].get(number) or {}).get("digest") == digest:
            return
        self.ctx.emit(self.flow.orders_topic, key=number, value=self.flow.schemas.encode(order.SALES_ORDER, record))
        self.ctx.stores["views"].put(number, {"digest": digest})
