"""`make chaos`: faults injected again and again during a workload on both systems, then invariants checked."""
