"""The derived flow's key: the group key. Every store look-up of the flow (``groups``) is by the group key of
the record in hand. Each input names the columns that make it (:meth:`DerivedConfig.key_columns`: a summed
table's ``group_by`` columns, the target table's key columns); they are read from the Kafka key (tombstones
route like their deletes) and, for a column outside the row's primary key, from the row image, so routing
needs no state.

With ``transactions: net`` the keying stage of a fleet joins the summed tables' source transactions as the entity
block's does (:mod:`~streams.flows.customers.txnet`): each transaction's changes are passed on together once it
has ended, marked per key, so the keyed flow folds them and commands each key once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from streams.codecs import decode_key
from streams.codecs.debezium.envelope import ChangeEvent, decode
from streams.errors import IsthmusError
from streams.flows.customers.txnet import Transactions, marked
from streams.flows.engine.api import Context, Incoming, Store, Ticking

Routed = list[tuple[str | None, Incoming]]


def key_text(group: Sequence[Any]) -> str:
    """A group key as the flow's key and the command's entity key: one value as text, several joined by '/'."""
    return "/".join(str(v) for v in group)


class GroupKeys:
    """Routes each input by its group-key columns (:class:`~streams.flows.engine.repartition.KeyRouter`; in its
    keying stage a :class:`~streams.flows.engine.repartition.BatchRouter` that ticks)."""

    def __init__(self, columns: Mapping[str, tuple[str, ...]], transactions: Transactions | None = None,
                 tables: Mapping[str, tuple[str, str]] | None = None) -> None:
        """``transactions``: the flow's transaction joins (none, or not ``net``: each record goes on alone);
        ``tables``: the topics they join, by the system and table each carries."""
        self.columns = dict(columns)
        self.transactions = transactions if transactions is not None and transactions.net else None
        self.tables = dict(tables or {})
        self.stores: tuple[str, ...] = self.transactions.stores if self.transactions is not None else ()

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> Routed:
        """``record``'s routes, the transaction joins read and written in ``stores`` on every call."""
        return self._routes(record, stores, None)

    def route_in(self, record: Incoming, ctx: Context) -> Routed:
        """``record``'s routes in the keying stage's batch, the joins' state kept as the batch's objects."""
        return self._routes(record, ctx.stores, ctx)

    def tick(self, ctx: Context, ticking: Ticking) -> Routed:
        """The transactions the joins abandon now, their tables read to their end, routed like any."""
        if self.transactions is None:
            return []
        return marked(self.transactions.abandon_read_to_end(ticking.read_to_end, ctx.stores, ctx.count, ctx=ctx),
                      self._route)

    def _routes(self, record: Incoming, stores: Mapping[str, Store], ctx: Context | None) -> Routed:
        if self.transactions is None:
            return self._route(record)
        where = self.tables.get(record.topic)
        return marked(self.transactions.groups(record, where[0] if where else None, stores,
                                               ctx.count if ctx is not None else None, ctx=ctx), self._route)

    def _route(self, record: Incoming) -> Routed:
        columns = self.columns.get(record.topic, ())
        try:
            key = decode_key(record.key, where=f"{record.position} key") or {}
            if columns and not all(c in key for c in columns) and record.value is not None:
                event = (self.transactions.decoded(record) if self.transactions is not None else None) or \
                    decode(record.value, record.key, topic=record.topic, where=record.position)
                row = event.row if isinstance(event, ChangeEvent) else None
                key = {**(row or {}), **key}
        except IsthmusError:
            return [(None, record)]  # the flow dead-letters what it cannot read
        values = [key.get(c) for c in columns]
        if not columns or any(v is None for v in values):
            return [(None, record)]
        return [(key_text(values), record)]
