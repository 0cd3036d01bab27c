"""The view flow's key: the view key each part's record carries (``by:``), read from the record itself, since
canonical topics are keyed by each record's own key. A record that cannot be decoded goes on unkeyed, for
the flow to dead-letter; a tombstone, to any partition, where the flow ignores it."""

from __future__ import annotations

from collections.abc import Mapping

from streams.codecs.avro.single_object import SchemaStore
from streams.errors import IsthmusError
from streams.flows.engine.api import Incoming, Store
from streams.flows.view.config import ViewConfig


class ViewKeys:
    """Routes each part's records by their view key (:class:`~streams.flows.engine.repartition.KeyRouter`)."""

    stores: tuple[str, ...] = ()

    def __init__(self, config: ViewConfig, schemas: SchemaStore) -> None:
        self.by = {p.topic: p.by for p in config.parts}
        self.schemas = schemas

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> list[tuple[str | None, Incoming]]:
        del stores
        by = self.by.get(record.topic)
        if record.value is None or by is None:
            return [(None, record)]
        try:
            key = self.schemas.decode(record.value).value.get(by)
        except IsthmusError:
            return [(None, record)]
        return [(None if key is None else str(key), record)]
