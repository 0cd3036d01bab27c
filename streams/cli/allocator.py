"""glibc's allocator set for a long-running process that handles large, short-lived buffers.

A worker fetches Kafka responses of several MiB per partition, decompresses record batches and writes RocksDB
batches: buffers of hundreds of KB to tens of MB, each freed a moment later. glibc serves a request above its
mmap threshold (128 KiB at start) with its own mapping, given back when freed; but each such free raises the
threshold to the freed size (up to 32 MiB), so from the first large fetch on these buffers come from the heap
instead, and the holes they leave between longer-lived objects stay resident. The customer worker's resident set
was ~200 MiB above what it had allocated (memray), and its peak followed the bursts of a bulk load.

Setting the threshold once, at the start, turns that adjustment off (``mallopt(M_MMAP_THRESHOLD)``): a
100,000-customer initial sync on the dev stack (``python -m bench initial-sync --sync-customers 100000``,
BENCHMARKS.md, "Session of 2026-12-06, second") peaked at 429 MiB instead of 508 for the customer worker (414 with
the same setting given in the environment) and 210 instead of 231 for the other flows' worker, without more CPU.

A threshold given in the environment (glibc's ``MALLOC_MMAP_THRESHOLD_``) is left as it is; another C library
(musl) has no ``mallopt`` and is left alone too.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

#: ``mallopt``'s parameter number for the mmap threshold (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
#: Requests of at least this many bytes get their own mapping, returned to the system when freed: glibc's own
#: initial value, kept instead of raised.
MMAP_THRESHOLD_BYTES = 128 * 1024
#: glibc's environment variable for the same setting; when set, glibc has applied it already.
ENV_THRESHOLD = "MALLOC_MMAP_THRESHOLD_"


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes for the rest of the process. Returns whether it was set
    here: False under another C library, or when ``MALLOC_MMAP_THRESHOLD_`` sets it already."""
    if ENV_THRESHOLD in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, threshold) != 1:
        log.warning("glibc refused an mmap threshold of %d bytes: memory freed by large buffers may stay resident",
                    threshold)
        return False
    return True
