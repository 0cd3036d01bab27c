"""An object codec for engine tests of ``Context.objects``: a dict of counters per key, packed."""

from __future__ import annotations

from streams.flows.engine.packed import pack, unpack


class CounterCodec:
    """A dict of counters per key, packed."""

    def decode(self, key: str, raw: bytes | None) -> dict[str, int]:
        return {} if raw is None else dict(unpack(raw))

    def encode(self, key: str, value: dict[str, int]) -> bytes:
        return pack(value)

    def copy(self, value: dict[str, int]) -> dict[str, int]:
        return dict(value)
