"""The properties of a Kafka Connect distributed worker, defined once for every stack that runs one: the local
stack (one broker, PLAINTEXT), the secured test cluster (three brokers, SASL_SSL) and the chaos suite's cluster
(three brokers, PLAINTEXT). What differs between them is a parameter; everything else (JSON converters with
schemas, exactly-once source support, config providers, the REST listener) is the same line for all three."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
#: The worker's internal topics: the kind its ``<kind>.storage.topic`` property names, and the topic's suffix.
_INTERNAL = {"offset": "offsets", "config": "configs", "status": "status"}
_PROVIDERS = {
    "env": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
    "file": "org.apache.kafka.common.config.provider.FileConfigProvider",
}


def internal_topic(prefix: str, kind: str) -> str:
    """One of the worker's internal topics: ``<prefix>.offsets``, ``.configs`` or ``.status``."""
    return f"{prefix}.{kind}"


def worker_properties(*, bootstrap: str, group: str, topics: str, replication: int, host: str, port: int,
                      plugins: Path, allowed_paths: Iterable[Path], providers: Iterable[str] = ("env", "file"),
                      clients: Mapping[str, str | int] | None = None) -> dict[str, str | int]:
    """A distributed worker of ``group`` on ``bootstrap``: internal topics ``<topics>.offsets|configs|status``
    with ``replication`` replicas, its REST API on ``host:port``, connectors from ``plugins``, secrets read by
    the ``file`` provider from ``allowed_paths`` only (and from the environment where ``providers`` has ``env``),
    and ``clients``: settings of its own clients (security, each prefixed as the worker reads it)."""
    chosen = tuple(providers)
    unknown = sorted(set(chosen) - set(_PROVIDERS))
    if unknown:
        raise ValueError(f"unknown Connect config providers {', '.join(unknown)}; known: {', '.join(_PROVIDERS)}")
    properties: dict[str, str | int] = {
        "bootstrap.servers": bootstrap,
        **(clients or {}),
        "group.id": group,
        "key.converter": JSON_CONVERTER,
        "value.converter": JSON_CONVERTER,
        "key.converter.schemas.enable": "true",
        "value.converter.schemas.enable": "true",
        "value.converter.replace.null.with.default": "false",  # a null stays null (connect-configs/README.md)
        **{f"{kind}.storage.topic": internal_topic(topics, name) for kind, name in _INTERNAL.items()},
        **{f"{kind}.storage.replication.factor": replication for kind in _INTERNAL},
        "offset.flush.interval.ms": 1000,
        "listeners": f"http://{host}:{port}",
        "rest.advertised.host.name": host,
        "rest.advertised.port": port,
        "plugin.path": str(plugins),
        "plugin.discovery": "hybrid_warn",
        "config.providers": ",".join(chosen),
        **{f"config.providers.{name}.class": _PROVIDERS[name] for name in chosen},
    }
    if "file" in chosen:
        properties["config.providers.file.param.allowed.paths"] = ",".join(str(p) for p in allowed_paths)
    properties.update({
        "connector.client.config.override.policy": "All",
        "exactly.once.source.support": "enabled",
        "scheduled.rebalance.max.delay.ms": 0,
    })
    return properties
