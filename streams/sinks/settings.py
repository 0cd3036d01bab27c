"""Sink worker settings: every one from an environment variable with a documented default.

Kafka's address and the targets' API URLs come from the stack's settings (``StackSettings``); these are the
sink's own knobs. ``SinkSettings.from_env`` checks them all at once and names every bad one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from streams.config.paths import DATA_ROOT
from streams.sinks.exceptions import SinkSettingsError
from streams.sinks.topics import DLQ_TOPIC, command_topic, results_topic

#: The first sink's /metrics port; each further writable system (in systems/ order) takes the next one.
DEFAULT_METRICS_PORT = 18091


@dataclass(frozen=True)
class SinkSettingDoc:
    env: str
    description: str


SINK_SETTINGS: dict[str, SinkSettingDoc] = {
    "targets_dir": SinkSettingDoc("ISTHMUS_SINK_TARGETS_DIR", "folder of the target files <system>.yaml; "
                                  "default <project>/targets"),
    "base_url": SinkSettingDoc("ISTHMUS_SINK_BASE_URL", "the HTTP target's base URL; default: the target "
                               "file's base_url, else the stack's API URL of that system"),
    "concurrency": SinkSettingDoc("ISTHMUS_SINK_CONCURRENCY", "entities whose commands are applied at the same "
                                  "time (one command per entity at a time; a route with a batch endpoint "
                                  "sends them together); default 256"),
    "max_in_flight": SinkSettingDoc("ISTHMUS_SINK_MAX_IN_FLIGHT", "records fetched but not yet committed; "
                                    "fetching pauses at this bound (backpressure); default 2048"),
    "retry_base_s": SinkSettingDoc("ISTHMUS_SINK_RETRY_BASE_S", "first retry delay, seconds; default 0.2"),
    "retry_max_s": SinkSettingDoc("ISTHMUS_SINK_RETRY_MAX_S", "longest retry delay, seconds; default 30"),
    "retry_multiplier": SinkSettingDoc("ISTHMUS_SINK_RETRY_MULTIPLIER", "growth of the delay per attempt; "
                                       "default 2"),
    "retry_jitter": SinkSettingDoc("ISTHMUS_SINK_RETRY_JITTER", "fraction of each delay that is random "
                                   "(0 none, 1 full jitter); default 0.5"),
    "retry_after_max_s": SinkSettingDoc("ISTHMUS_SINK_RETRY_AFTER_MAX_S", "longest Retry-After honoured, "
                                        "seconds (a longer one is cut to this); default 300"),
    "breaker_threshold": SinkSettingDoc("ISTHMUS_SINK_BREAKER_THRESHOLD", "consecutive transient failures "
                                        "that open the target's circuit breaker; default 5"),
    "breaker_reset_s": SinkSettingDoc("ISTHMUS_SINK_BREAKER_RESET_S", "seconds the breaker stays open before "
                                      "one probe call (half-open); default 5"),
    "transient_deadline_s": SinkSettingDoc("ISTHMUS_SINK_TRANSIENT_DEADLINE_S", "seconds after its first "
                                           "attempt that a command failing transiently is dead-lettered; "
                                           "default: never (retry until the target recovers)"),
    "request_timeout_s": SinkSettingDoc("ISTHMUS_SINK_REQUEST_TIMEOUT_S", "timeout of one call, seconds; "
                                        "default 10"),
    "commit_interval_ms": SinkSettingDoc("ISTHMUS_SINK_COMMIT_INTERVAL_MS", "how often completed commands are "
                                         "committed (results, dead letters and offsets in one Kafka "
                                         "transaction); default 200"),
    "summary_interval_s": SinkSettingDoc("ISTHMUS_SINK_SUMMARY_S", "seconds between summary log lines; "
                                         "default 30"),
    "stop_grace_s": SinkSettingDoc("ISTHMUS_SINK_STOP_GRACE_S", "on SIGTERM, seconds in-flight calls get to "
                                   "finish before they are abandoned uncommitted; default 10"),
    "command_topic": SinkSettingDoc("ISTHMUS_SINK_COMMAND_TOPIC", "topic to consume; default "
                                    "isthmus.commands.<system>"),
    "results_topic": SinkSettingDoc("ISTHMUS_SINK_RESULTS_TOPIC", "topic for CommandResult records; default "
                                    "isthmus.results.<system>"),
    "dlq_topic": SinkSettingDoc("ISTHMUS_SINK_DLQ_TOPIC", f"dead-letter topic; default {DLQ_TOPIC}"),
    "group_id": SinkSettingDoc("ISTHMUS_SINK_GROUP_ID", "consumer group the offsets are committed to; "
                               "default isthmus-sink-<system>"),
    "transactional_id": SinkSettingDoc("ISTHMUS_SINK_TRANSACTIONAL_ID", "Kafka transactional id; a second "
                                       "worker with the same id fences the first; default isthmus-sink-<system>"),
    "worker_id": SinkSettingDoc("ISTHMUS_SINK_WORKER_ID", "name in logs and dead letters; default "
                                "sink-<system>@<host>:<pid>"),
    "metrics_port": SinkSettingDoc("ISTHMUS_SINK_METRICS_PORT", "port of the sink's /metrics (Prometheus); "
                                   f"default {DEFAULT_METRICS_PORT} for the first writable system in systems/, "
                                   "the next port for each further one; 0 picks a free one (logged)"),
    "metrics_host": SinkSettingDoc("ISTHMUS_SINK_METRICS_HOST", "address the sink's /metrics listens on; default: "
                                   "the stack's loopback host (0.0.0.0 in a container, for Prometheus)"),
}

_POSITIVE_INT = ("concurrency", "max_in_flight", "breaker_threshold", "commit_interval_ms")
_POSITIVE_FLOAT = ("retry_base_s", "retry_max_s", "retry_after_max_s", "breaker_reset_s", "request_timeout_s",
                   "summary_interval_s", "transient_deadline_s")
_NON_NEGATIVE_FLOAT = ("stop_grace_s",)


@dataclass(frozen=True, kw_only=True)
class SinkSettings:
    targets_dir: Path = DATA_ROOT / "targets"
    base_url: str | None = None
    concurrency: int = 256
    max_in_flight: int = 2048
    retry_base_s: float = 0.2
    retry_max_s: float = 30.0
    retry_multiplier: float = 2.0
    retry_jitter: float = 0.5
    retry_after_max_s: float = 300.0
    breaker_threshold: int = 5
    breaker_reset_s: float = 5.0
    transient_deadline_s: float | None = None
    request_timeout_s: float = 10.0
    commit_interval_ms: int = 200
    summary_interval_s: float = 30.0
    stop_grace_s: float = 10.0
    command_topic: str | None = None
    results_topic: str | None = None
    dlq_topic: str = DLQ_TOPIC
    group_id: str | None = None
    transactional_id: str | None = None
    worker_id: str | None = None
    metrics_port: int | None = None
    metrics_host: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SinkSettings:
        env = os.environ if env is None else env
        defaults = cls()
        values: dict[str, object] = {}
        problems: list[str] = []
        for name, doc in SINK_SETTINGS.items():
            raw = env.get(doc.env)
            if raw is None or raw.strip() == "":
                continue
            raw = raw.strip()
            default = getattr(defaults, name)
            shown_default = "never" if default is None and name == "transient_deadline_s" else default
            if name in _POSITIVE_INT:
                try:
                    number = int(raw)
                except ValueError:
                    number = 0
                if number < 1:
                    problems.append(f"{doc.env}={raw!r} is not a whole number above 0; unset it to use "
                                    f"{shown_default}")
                    continue
                values[name] = number
            elif name in (*_POSITIVE_FLOAT, *_NON_NEGATIVE_FLOAT, "retry_multiplier", "retry_jitter"):
                try:
                    real = float(raw)
                except ValueError:
                    real = float("nan")
                low_ok = real >= 0 if name in _NON_NEGATIVE_FLOAT or name == "retry_jitter" else real > 0
                if name == "retry_multiplier":
                    low_ok = real >= 1
                if not low_ok or real != real or (name == "retry_jitter" and real > 1):
                    bound = {"retry_multiplier": "at least 1", "retry_jitter": "between 0 and 1",
                             "stop_grace_s": "0 or more"}.get(name, "above 0")
                    problems.append(f"{doc.env}={raw!r} is not a number {bound}; unset it to use {shown_default}")
                    continue
                values[name] = real
            elif name == "metrics_port":
                if not raw.isdigit() or int(raw) > 65535:
                    problems.append(f"{doc.env}={raw!r} is not a port (0-65535, 0: a free one); unset it to use "
                                    f"{DEFAULT_METRICS_PORT} and up")
                    continue
                values[name] = int(raw)
            elif name == "targets_dir":
                values[name] = Path(raw).expanduser().resolve()
            elif name == "base_url":
                if not raw.startswith(("http://", "https://")):
                    problems.append(f"{doc.env}={raw!r} is not an http(s) URL; give e.g. http://127.0.0.1:18002")
                    continue
                values[name] = raw  # as given: a JSON-RPC endpoint may need its slash; HTTP joins paths itself
            else:
                values[name] = raw
        settings = replace(defaults, **values)  # type: ignore[arg-type]
        if settings.retry_base_s > settings.retry_max_s:
            problems.append(f"ISTHMUS_SINK_RETRY_BASE_S ({settings.retry_base_s}) is above "
                            f"ISTHMUS_SINK_RETRY_MAX_S ({settings.retry_max_s}); lower the base or raise the max")
        if settings.concurrency > settings.max_in_flight:
            problems.append(f"ISTHMUS_SINK_CONCURRENCY ({settings.concurrency}) is above "
                            f"ISTHMUS_SINK_MAX_IN_FLIGHT ({settings.max_in_flight}); the in-flight bound must "
                            "hold at least one record per concurrent call")
        if problems:
            raise SinkSettingsError("invalid sink settings:\n  " + "\n  ".join(problems))
        return settings

    def for_system(self, system: str, *, writable: Sequence[str] = ()) -> ResolvedSinkSettings:
        """The settings with every per-system default filled in; ``writable``: the declared writable systems,
        whose order gives each sink its own default metrics port (so the sinks of one host do not collide)."""
        metrics_port = self.metrics_port
        if metrics_port is None:
            metrics_port = DEFAULT_METRICS_PORT + (list(writable).index(system) if system in writable else 0)
        return ResolvedSinkSettings(
            system=system,
            settings=self,
            command_topic=self.command_topic or command_topic(system),
            results_topic=self.results_topic or results_topic(system),
            dlq_topic=self.dlq_topic,
            group_id=self.group_id or f"isthmus-sink-{system}",
            transactional_id=self.transactional_id or f"isthmus-sink-{system}",
            worker_id=self.worker_id or f"sink-{system}@{socket.gethostname()}:{os.getpid()}",
            metrics_port=metrics_port,
        )

    def documented(self) -> dict[str, str]:
        """Each setting's variable and its current value, for ``--help``-like listings."""
        return {SINK_SETTINGS[f.name].env: str(getattr(self, f.name)) for f in fields(self)
                if f.name in SINK_SETTINGS}


@dataclass(frozen=True, kw_only=True)
class ResolvedSinkSettings:
    system: str
    settings: SinkSettings
    command_topic: str
    results_topic: str
    dlq_topic: str
    group_id: str
    transactional_id: str
    worker_id: str
    metrics_port: int
