"""The stock flow's key: the SKU. Every store look-up of the flow (``skus``) is by the SKU of the record in
hand, and both inputs carry it in their Kafka key (``erp.stock``: ``(sku, warehouse_code)``;
``crm.products``: ``sku``), so routing needs no state and no value: tombstones route like their deletes."""

from __future__ import annotations

from collections.abc import Mapping

from streams.codecs import decode_key
from streams.codecs.exceptions import CodecError
from streams.flows.engine.api import Incoming, Store


class SkuKeys:
    """Routes ``erp.stock`` and ``crm.products`` records by SKU
    (:class:`~streams.flows.engine.repartition.KeyRouter`)."""

    stores: tuple[str, ...] = ()

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> list[tuple[str | None, Incoming]]:
        del stores
        try:
            key = decode_key(record.key, where=f"{record.position} key")
        except CodecError:
            return [(None, record)]  # the flow dead-letters what it cannot read
        sku = (key or {}).get("sku")
        return [(None if sku is None else str(sku), record)]
