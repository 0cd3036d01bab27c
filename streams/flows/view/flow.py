"""A view joined from canonical records (block ``view``; the reference flow is ``isthmus-customer360``, the
customer-360 view): each part's records (the reconciled customer, its orders, invoices, ...) are kept by the
view key they carry, and the view is assembled from them and published, compacted, whenever it changed.

Nothing is reconciled here: each part is the canonical record its own flow published (ownership was settled
there). Stores: ``members``, per view key, part and entry, the record and its time; ``views``, per view key,
the entries of each part and a digest of the view last published.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.errors import IsthmusError
from streams.flows.canonical.lineage import Lineage
from streams.flows.commands import payload_json
from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected
from streams.flows.engine.values import from_store, to_store
from streams.flows.view.config import Part, ViewConfig
from streams.flows.view.keying import ViewKeys

MEMBERS, VIEWS = "members", "views"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SEP = "\x1f"


class ViewFlowError(IsthmusError):
    """A canonical record the view flow cannot use."""


class ViewFlow:
    def __init__(self, *, schemas: SchemaStore, config: ViewConfig, name: str, description: str = "") -> None:
        self.schemas = schemas
        self.config = config
        self.name = name
        self.description = description or f"{config.record} joined from canonical records"

    @property
    def stage(self) -> str:
        return f"flow.{self.name}"

    def spec(self) -> FlowSpec:
        return FlowSpec(name=self.name, inputs=self.config.inputs, handler=self.handle, stores=(MEMBERS, VIEWS),
                        outputs=(self.config.topic,), compacted=(self.config.topic,), description=self.description,
                        key_by=ViewKeys(self.config, self.schemas))

    def handle(self, record: Incoming, ctx: Context) -> None:
        if record.value is None:
            return  # a compacted topic's tombstone: the record before it said what went
        part = self.config.part_of(record.topic)
        try:
            if part is None:
                raise ViewFlowError(f"{record.position}: {record.topic} feeds no part of the view")
            value = dict(self.schemas.decode(record.value).value)
            key = value.get(part.by)
            if key is None:
                return  # not (yet) any view's: the canonical flow publishes it again once linked
            self.keep(ctx, str(key), part, value, self.time(part, value, record))
            self.publish(ctx, str(key))
        except IsthmusError as exc:
            raise Rejected(f"{type(exc).__name__}: {exc}", stage=self.stage) from exc

    def time(self, part: Part, value: dict[str, Any], record: Incoming) -> dt.datetime | None:
        if part.time is not None:
            found: dt.datetime | None = value.get(part.time)
            return found
        if not record.headers:
            return None
        return Lineage.from_headers(record.headers).commit_time

    def keep(self, ctx: Context, key: str, part: Part, value: dict[str, Any], at: dt.datetime | None) -> None:
        if part.stamp is not None:
            value[part.stamp] = at
        member = "" if part.key is None else str(value.get(part.key))
        view = dict(ctx.stores[VIEWS].get(key) or {})
        index = dict(view.get("index") or {})
        entries = list(index.get(part.name) or [])
        if member not in entries:
            index[part.name] = [*entries, member]
            ctx.stores[VIEWS].put(key, {**view, "index": index})
        ctx.stores[MEMBERS].put(_SEP.join((key, part.name, member)),
                                {"record": to_store(value), "time": to_store(at)})

    def records(self, ctx: Context, key: str, part: Part) -> list[tuple[dict[str, Any], dt.datetime | None]]:
        index = (ctx.stores[VIEWS].get(key) or {}).get("index") or {}
        found = []
        for member in index.get(part.name) or []:
            entry = ctx.stores[MEMBERS].get(_SEP.join((key, part.name, member))) or {}
            found.append((dict(from_store(entry.get("record")) or {}), from_store(entry.get("time"))))
        return found

    def publish(self, ctx: Context, key: str) -> None:
        view = self.assemble(ctx, key)
        if view is None:
            return
        digest = hashlib.sha256(payload_json(view).encode()).hexdigest()
        state = dict(ctx.stores[VIEWS].get(key) or {})
        if state.get("digest") == digest:
            return
        ctx.emit(self.config.topic, key=key, value=self.schemas.encode(self.config.record, view))
        ctx.stores[VIEWS].put(key, {**state, "digest": digest})

    def assemble(self, ctx: Context, key: str) -> dict[str, Any] | None:
        """The view of ``key`` from its parts' records; None while a required part is missing."""
        config = self.config
        view: dict[str, Any] = {config.key: key}
        live: dict[str, list[dict[str, Any]]] = {}
        seen: dict[str, int] = {}
        times: list[dt.datetime] = []
        for part in config.parts:
            kept = self.records(ctx, key, part)
            seen[part.name] = len(kept)
            times += [t for _, t in kept if t is not None]
            records = [r for r, _ in kept if not (part.drop and r.get(part.drop))]
            live[part.name] = records
            if part.required and not records:
                return None
            if part.field is not None:
                view[part.field] = records[0] if records else None
            elif part.list is not None:
                order = part.newest_first
                view[part.list] = sorted(records, key=lambda r: (r.get(order) or _EPOCH) if order else 0,
                                         reverse=order is not None)
        for total in config.totals:
            values = [r.get(f) for p, f in total.add for r in live.get(p, [])]
            values += [-r[f] for p, f in total.subtract for r in live.get(p, []) if r.get(f) is not None]
            parts = {p for p, _ in (*total.add, *total.subtract)}
            present = any(seen.get(p) for p in parts) if total.null_unless == "seen" else \
                any(live.get(p) for p in parts)
            amount = sum((v for v in values if v is not None), Decimal(0)) if present else None
            view[total.field] = amount
            for field, inner in total.also:
                if isinstance(view.get(field), dict):
                    view[field] = {**view[field], inner: amount}
        for field, part_name, inner in config.latest:
            found = [r[inner] for r in live.get(part_name, []) if r.get(inner) is not None]
            view[field] = max(found) if found else None
        if config.updated is not None:
            view[config.updated] = max(times) if times else _EPOCH
        return view
