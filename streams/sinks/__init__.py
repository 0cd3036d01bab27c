"""Sink workers: apply the commands of ``isthmus.commands.<system>`` to the target system, effectively once.

``topics``: the topic names the flows import. ``config/``: target files (``targets/<system>.yaml``).
``adapters/``: HTTP and SQL. ``worker``: the consume-apply-commit loop, built from ``scheduler`` (order per
entity), ``offsets`` (what may be committed), ``delivery`` (retries), ``gate`` and ``breaker`` (Retry-After,
circuit breaker). ``dlq``: listing and replaying dead letters. ``runner``: wiring from the environment.
"""
