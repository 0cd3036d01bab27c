"""The customer flow's key: the customer number. Every store look-up of the flow stays within it: the
customer (``customers``), the cross-reference index entries of that customer (``index``), the remembered
contact and address rows (``rows``) and the changes parked for that customer (``parked``) all belong to
the customer the record maps to.

The inputs do not all carry the number: CRM customers do (``customer_number``; REPLICA IDENTITY FULL, so
deletes too) and ERP accounts do (``crm_customer_number``), but contacts and addresses name the CRM
customer id (``customer_id``), and their updates and deletes carry only their own id (default replica
identity). So this router keeps, per keying task:

- ``numbers``: CRM customer id -> customer number, from the CRM customers it routes;
- ``rows``: ``contacts:<id>`` / ``addresses:<id>`` -> the CRM customer id of that row;
- ``held``: contact and address changes whose customer was not routed yet, per CRM customer id, passed on
  in their order right after that customer.

An ERP account without ``crm_customer_number`` (one the CRM does not know; the flow ignores it) is routed by
its account id. Tombstones are dropped: the flow ignores them (the delete before it carried the change).
"""

from __future__ import annotations

from collections.abc import Mapping

from streams.codecs import ChangeEvent, decode
from streams.codecs.exceptions import CodecError
from streams.flows.engine.api import Incoming, Store
from streams.flows.parking import ParkingLot

NUMBERS, ROWS, HELD = "numbers", "rows", "held"
Routed = list[tuple[str | None, Incoming]]


class CustomerKeys:
    """Routes CRM customers, contacts, addresses and ERP accounts by customer number
    (:class:`~streams.flows.engine.repartition.KeyRouter`)."""

    stores: tuple[str, ...] = (NUMBERS, ROWS, HELD)

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> Routed:
        if record.value is None:
            return []
        try:
            event = decode(record.value, record.key, topic=record.topic, where=record.position)
        except CodecError:
            return [(None, record)]  # the flow dead-letters it with the reason
        if not isinstance(event, ChangeEvent):
            return [(None, record)]
        row = event.after if event.after is not None else event.before
        row = row or {}
        row_id = (event.key or {}).get("id", row.get("id"))
        if event.table == "customers":
            return self._customer(record, row, row_id, stores)
        if event.table == "accounts":
            number = row.get("crm_customer_number")
            account = (event.key or {}).get("account_id", row.get("account_id"))
            return [(str(number) if number is not None else f"account:{account}", record)]
        if event.table in ("contacts", "addresses"):
            return self._child(record, event.table, row, row_id, event.after is None, stores)
        return [(None, record)]  # a table the flow does not read: it dead-letters it

    @staticmethod
    def _customer(record: Incoming, row: Mapping[str, object], crm_id: object,
                  stores: Mapping[str, Store]) -> Routed:
        number = row.get("customer_number")
        if number is None:
            return [(None, record)]
        routed: Routed = [(str(number), record)]
        if crm_id is not None:
            if stores[NUMBERS].get(str(crm_id)) != {"customer_number": number}:
                stores[NUMBERS].put(str(crm_id), {"customer_number": number})
            routed += [(str(number), held) for held in ParkingLot(stores[HELD]).release(str(crm_id))]
        return routed

    @staticmethod
    def _child(record: Incoming, table: str, row: Mapping[str, object], row_id: object, deleted: bool,
               stores: Mapping[str, Store]) -> Routed:
        row_key = f"{table}:{row_id}"
        remembered = stores[ROWS].get(row_key)
        # A delete's before-image under the default replica identity holds the key and defaults (customer_id
        # 0): the row as this router remembers it names the customer; REPLICA IDENTITY FULL gives it too.
        customer_id = row.get("customer_id") or None
        if deleted and remembered is not None:
            customer_id = remembered["customer_id"]
        if customer_id is None:
            return [(row_key, record)]  # a key-only delete of a row never seen: the flow has nothing of it
        if deleted:
            if remembered is not None:
                stores[ROWS].put(row_key, None)
        elif remembered != {"customer_id": customer_id}:
            stores[ROWS].put(row_key, {"customer_id": customer_id})
        entry = stores[NUMBERS].get(str(customer_id))
        held = ParkingLot(stores[HELD])
        if entry is None or held.is_waiting(str(customer_id)):
            held.park(str(customer_id), record)
            return []
        return [(str(entry["customer_number"]), record)]
