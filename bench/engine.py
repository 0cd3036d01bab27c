"""`python -m bench.engine`: CPU time of the flow engine's own per-record path, with handlers that do next to nothing
(issue 17, item 2).

Records are made as the worker makes them (an :class:`~streams.flows.engine.api.Incoming` per record read) and run
through :func:`~streams.flows.engine.staging.handle_record` in a
:class:`~streams.flows.engine.staging.RecordContext` over ``--stores`` in-memory stores (the customer flow has
seven), in batches of 1,000 records ended as a commit ends them (objects flushed, the stores' changes taken, the
output dropped; timed too). Two handlers: **bare** (returns at once: the engine's scope, the record and the batch's
end) and **typical** (three nested scopes as the customer flow opens them, a store ``put``, an ``emit`` with a
header, a ``count``, an object view's ``get`` and ``put``). ``time.process_time`` around each pass gives µs per
record; the best of ``--runs`` passes is printed.
No figure is asserted and nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Sequence

from streams.flows.engine.api import Context, Handler, Incoming
from streams.flows.engine.staging import RecordContext, handle_record
from streams.flows.engine.stores import MemoryStore

BATCH = 1000


class _Counter:
    """An object codec of one-counter dicts (the object view's work stays small)."""

    def decode(self, key: str, raw: bytes | None) -> dict[str, int]:
        return {"n": 0 if raw is None else int(raw)}

    def encode(self, key: str, value: dict[str, int]) -> bytes:
        return str(value["n"]).encode()

    def copy(self, value: dict[str, int]) -> dict[str, int]:
        return dict(value)


_COUNTER = _Counter()


def bare(record: Incoming, ctx: Context) -> None:
    return None


def typical(record: Incoming, ctx: Context) -> None:
    with ctx.isolated(), ctx.isolated(record), ctx.isolated():
        key = record.key.decode() if record.key is not None else ""
        ctx.stores["s0"].put(key, {"n": record.offset})
        view = ctx.objects("s1", _COUNTER)
        counter = view.get(key)
        counter["n"] += 1
        view.put(key, counter)
        ctx.emit("out", key=key, value=record.value, headers={"h": b"1"})
        ctx.count("seen")


async def one_pass(handler: Handler, stores: int, records: int, keys: int) -> float:
    """CPU seconds to run ``records`` records (over ``keys`` keys) through ``handler``."""
    memory = {f"s{n}": MemoryStore(f"s{n}") for n in range(stores)}
    started = time.process_time()
    for first in range(0, records, BATCH):
        ctx = RecordContext(memory=memory, stage="flow.bench")
        for offset in range(first, min(first + BATCH, records)):
            record = Incoming(topic="in", partition=0, offset=offset, key=str(offset % keys).encode(), value=b"v",
                              timestamp_ms=offset, headers=())
            await handle_record(handler, record, ctx)
        ctx.flush()
        for store in memory.values():
            store.take_changes()
    return time.process_time() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    parser.add_argument("--records", type=int, default=50_000, help="records per pass")
    parser.add_argument("--keys", type=int, default=1_000, help="distinct record keys")
    parser.add_argument("--stores", type=int, default=7, help="stores of the flow (at least 2)")
    parser.add_argument("--runs", type=int, default=5, help="passes; the best is printed")
    args = parser.parse_args(argv)
    for name, handler in (("bare", bare), ("typical", typical)):
        gc.collect()
        spent = [asyncio.run(one_pass(handler, max(args.stores, 2), args.records, args.keys))
                 for _ in range(args.runs)]
        print(f"bench engine: {name} handler, {args.stores} stores, {args.records:,} records: "
              f"{min(spent) / args.records * 1e6:.2f} µs/record "
              f"(runs: {', '.join(f'{s / args.records * 1e6:.2f}' for s in spent)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
