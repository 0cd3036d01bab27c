"""Python's garbage collector, tuned for a process that handles records in batches.

A flow allocates a few short-lived objects per record (the event, its mapped values, the commands) and keeps its
long-lived ones (compiled mappings and schemas, stores) from its start. With the default gen-0 threshold (700)
the collector ran ~1,600 times over 21,000 customer records, each collection walking the young objects, and the
older generations' collections walked every object the flows built at start: ~23 µs a record (`python -m bench
flows`, BENCHMARKS.md "each change decoded once"). Frozen after start (those objects are never collected: they
live as long as the process) and with a gen-0 threshold of 10,000 it collects ~230 times, ~11 µs a record. Reference
cycles are still collected, only less often; a batch's garbage is bounded by its records.
"""

from __future__ import annotations

import gc

#: Allocations (less deallocations) between two young-generation collections; CPython's default is 700.
GEN0_THRESHOLD = 10_000


def tune_for_batches() -> None:
    """Call once the flows are built: freezes what exists now and collects the young generation less often."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
