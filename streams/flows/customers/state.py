"""One customer as the flow keeps it: the reconciled record with provenance, the cross-reference, each
system's mirror and the pending account creation; stored as one JSON object per customer number."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.flows.customers.exceptions import CorruptState
from streams.flows.customers.mirror import DEFAULTS, Mirror
from streams.flows.customers.sides import CRM, ERP
from streams.flows.engine.values import from_store, to_store
from streams.mapping.reconcile import Stamp, stamps_to_avro


def _stamps_to_json(stamps: Mapping[str, Stamp]) -> dict[str, Any]:
    return {f: {"system": s.system, "commit_time": s.commit_time.isoformat()} for f, s in stamps.items()}


def _stamps_from_json(data: Mapping[str, Any]) -> dict[str, Stamp]:
    return {f: Stamp(system=str(v["system"]), commit_time=dt.datetime.fromisoformat(v["commit_time"]))
            for f, v in data.items()}


@dataclass
class CustomerState:
    """Working state of one customer while a change is folded in; ``to_json`` is what the store keeps."""

    customer_number: str
    record: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Stamp] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    xref: dict[str, Any] = field(default_factory=dict)
    xref_provenance: dict[str, Stamp] = field(default_factory=dict)
    crm: Mirror = field(default_factory=lambda: Mirror(system=CRM))
    erp: Mirror = field(default_factory=lambda: Mirror(system=ERP))
    #: The Account create command in flight (its idempotency key), until the ERP account shows up.
    creating: str | None = None

    def mirror(self, system: str) -> Mirror:
        return self.crm if system == CRM else self.erp

    def value(self, name: str) -> Any:
        return self.record.get(name, DEFAULTS.get(name))

    @property
    def linked(self) -> bool:
        """The ERP account exists (Isthmus has seen it) or the CRM row names one."""
        return self.xref.get("erp_account_id") is not None or self.crm.reported.get("erp_account_id") is not None

    def canonical(self) -> dict[str, Any] | None:
        """The Avro ``Customer``, or None while no system has named the customer yet (name is required)."""
        if self.record.get("name") is None:
            return None
        contacts = [self.contacts[k] for k in sorted(self.contacts, key=lambda k: int(k) if k.isdigit() else 0)]
        return {**self.record, "customer_number": self.customer_number, "contacts": contacts,
                "provenance": stamps_to_avro(self.provenance)}

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_number": self.customer_number,
            "record": to_store(self.record),
            "provenance": _stamps_to_json(self.provenance),
            "contacts": to_store(self.contacts),
            "xref": to_store(self.xref),
            "xref_provenance": _stamps_to_json(self.xref_provenance),
            CRM: self.crm.to_json(),
            ERP: self.erp.to_json(),
            "creating": self.creating,
        }

    @classmethod
    def from_json(cls, customer_number: str, data: Mapping[str, Any] | None) -> CustomerState:
        if data is None:
            return cls(customer_number=customer_number)
        try:
            return cls(
                customer_number=customer_number,
                record=dict(from_store(data["record"])),
                provenance=_stamps_from_json(data["provenance"]),
                contacts=dict(from_store(data["contacts"])),
                xref=dict(from_store(data["xref"])),
                xref_provenance=_stamps_from_json(data["xref_provenance"]),
                crm=Mirror.from_json(CRM, data[CRM]),
                erp=Mirror.from_json(ERP, data[ERP]),
                creating=data.get("creating"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptState(f"stored customer {customer_number} is not what the flow writes: {exc!r}; delete "
                               "the flow's state (its changelog topics) to rebuild it") from exc
