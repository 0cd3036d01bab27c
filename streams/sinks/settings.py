"""Sink worker settings: a section of the runtime settings model (streams/config), each default written once.

Kafka's address is the ``kafka`` section's, the targets' folder the ``dirs`` section's
(``ISTHMUS_SINK_TARGETS_DIR``), the targets' API URLs and databases the ``endpoints`` section's; these are
the sink's own knobs. Every bad value is named at once, with its variable, its value and the fix.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from streams.config.exceptions import RuntimeConfigError
from streams.config.section import Section
from streams.kafka import names
from streams.kafka.sizes import max_request_size_field
from streams.sinks.exceptions import SinkSettingsError
from streams.sinks.topics import command_topic, dlq_topic, results_topic, sink_group

#: The first sink's /metrics port; each further writable system (in systems/ order) takes the next one.
DEFAULT_METRICS_PORT = 18091


def metrics_port_offset(system: str, writable: Sequence[str]) -> int:
    """How far ``system``'s /metrics port is above ISTHMUS_SINK_METRICS_PORT: its place among the writable
    systems in systems/ order (0 for the first, or for a system not declared writable)."""
    return list(writable).index(system) if system in writable else 0

_PORT: dict[str, Any] = {"expect": "a port (0-65535, 0: a free one)", "default": f"{DEFAULT_METRICS_PORT} and up"}


class SinkSettings(Section):
    """``isthmus sink``: concurrency, retries, breaker, commits and the topics of one sink worker."""

    NAME: ClassVar[str] = "sink"
    ERROR: ClassVar[type[RuntimeConfigError]] = SinkSettingsError
    ENV_NAMES: ClassVar[dict[str, str]] = {"summary_interval_s": "ISTHMUS_SINK_SUMMARY_S"}
    model_config = SettingsConfigDict(env_prefix="ISTHMUS_SINK_")

    base_url: str | None = Field(None, description="the HTTP target's base URL; default: the target file's "
                                 "base_url, else the endpoints' API URL of that system")
    # Twice a batch endpoint's most (500 items): one full batch forms while the previous one is in the target,
    # which applies them one after another (the reference ERP numbers accounts under one lock).
    concurrency: int = Field(1024, gt=0, description="entities whose commands are applied at the same time (one "
                             "command per entity at a time; a route with a batch endpoint sends them together)")
    max_in_flight: int = Field(4096, gt=0, description="records fetched but not yet committed; fetching pauses at "
                               "this bound (backpressure)")
    fold_updates: bool = Field(True, description="an entity flow's updates of one entity waiting behind another are "
                               "sent as one, the last with the changed fields of all (streams/sinks/folding.py); "
                               "false: every command is sent as it came")
    retry_base_s: float = Field(0.2, gt=0, description="first retry delay, seconds")
    retry_max_s: float = Field(30.0, gt=0, description="longest retry delay, seconds")
    retry_multiplier: float = Field(2.0, ge=1, description="growth of the delay per attempt")
    retry_jitter: float = Field(0.5, ge=0, le=1, description="fraction of each delay that is random (0 none, 1 full "
                                "jitter)")
    retry_after_max_s: float = Field(300.0, gt=0, description="longest Retry-After honoured, seconds (a longer one "
                                     "is cut to this)")
    breaker_threshold: int = Field(5, gt=0, description="consecutive transient failures that open the target's "
                                   "circuit breaker")
    breaker_reset_s: float = Field(5.0, gt=0, description="seconds the breaker stays open before one probe call "
                                   "(half-open)")
    transient_deadline_s: float | None = Field(
        None, gt=0, json_schema_extra={"default": "never"}, description="seconds after its first attempt that a "
        "command failing transiently is dead-lettered; default: never (retry until the target recovers)")
    # Both bounds, not either: with the default backoff a command fails 5 times in about 3 s, too soon to tell a
    # lock held a moment from a missing record; 2 minutes alone could be one try behind an open breaker.
    failing_alone_attempts: int = Field(5, gt=0, description="failures of its own after which a command failing "
                                        "alone (transiently, while the target applies other commands) is "
                                        "dead-lettered (FailingAlone), once ISTHMUS_SINK_FAILING_ALONE_S passed too; "
                                        "an outage (nothing applied) never counts")
    failing_alone_s: float = Field(120.0, ge=0, description="seconds after its first failure before a command "
                                   "failing alone is dead-lettered, once it also failed "
                                   "ISTHMUS_SINK_FAILING_ALONE_ATTEMPTS times alone")
    request_timeout_s: float = Field(10.0, gt=0, description="timeout of one call, seconds")
    max_request_size: int = max_request_size_field(
        "the sink produces", "a dead letter over it is written without the command's value (keeping its reason, "
        "where the command is, an excerpt and the command's fields, so that a replay re-derives it), a CommandResult "
        "without the target's answer, and the command's offset commits with it", "its results topic and isthmus.dlq")
    commit_interval_ms: int = Field(200, gt=0, description="how often completed commands are committed (results, "
                                    "dead letters and offsets in one Kafka transaction)")
    summary_interval_s: float = Field(30.0, gt=0, description="seconds between summary log lines")
    stop_grace_s: float = Field(10.0, ge=0, description="on SIGTERM, seconds in-flight calls get to finish before "
                                "they are abandoned uncommitted")
    command_topic: str | None = Field(None, description="topic to consume, as given; default "
                                      "<topic_prefix>isthmus.commands.<system>")
    results_topic: str | None = Field(None, description="topic for CommandResult records, as given; default "
                                      "<topic_prefix>isthmus.results.<system>")
    dlq_topic: str | None = Field(None, description="dead-letter topic, as given; default <topic_prefix>isthmus.dlq")
    group_id: str | None = Field(None, description="consumer group the offsets are committed to, as given; default "
                                 "<group_prefix>isthmus-sink-<system>")
    transactional_id: str | None = Field(None, description="Kafka transactional id, as given; a second worker with "
                                         "the same id fences the first; default <group_prefix>isthmus-sink-<system>")
    worker_id: str | None = Field(None, description="name in logs and dead letters; default "
                                  "sink-<system>@<host>:<pid>")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, json_schema_extra=_PORT, description="port of the first writable system's sink "
        f"/metrics (Prometheus), default {DEFAULT_METRICS_PORT}; each further writable system in systems/ order "
        "takes the next port, so the sinks of one host never collide; 0 picks a free one for each (logged)")
    metrics_host: str | None = Field(None, description="address the sink's /metrics listens on; default: the "
                                     "stack's loopback host (0.0.0.0 in a container, for Prometheus)")

    @field_validator("base_url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL; give e.g. http://127.0.0.1:18002")
        return url  # as given: a JSON-RPC endpoint may need its slash; HTTP joins paths itself

    @model_validator(mode="after")
    def _consistent(self) -> SinkSettings:
        if self.retry_base_s > self.retry_max_s:
            raise ValueError(f"ISTHMUS_SINK_RETRY_BASE_S ({self.retry_base_s}) is above ISTHMUS_SINK_RETRY_MAX_S "
                             f"({self.retry_max_s}); lower the base or raise the max")
        if self.concurrency > self.max_in_flight:
            raise ValueError(f"ISTHMUS_SINK_CONCURRENCY ({self.concurrency}) is above ISTHMUS_SINK_MAX_IN_FLIGHT "
                             f"({self.max_in_flight}); the in-flight bound must hold at least one record per "
                             "concurrent call")
        return self

    def for_system(self, system: str, *, writable: Sequence[str] = ()) -> ResolvedSinkSettings:
        """The settings with every per-system default filled in; ``writable``: the declared writable systems,
        whose order gives each sink its own metrics port above the first (so the sinks of one host, started with
        one environment, do not collide)."""
        worker_id = self.worker_id or f"sink-{system}@{socket.gethostname()}:{os.getpid()}"
        first = DEFAULT_METRICS_PORT if self.metrics_port is None else self.metrics_port
        metrics_port = first + metrics_port_offset(system, writable) if first else 0
        if metrics_port > 65535:
            raise SinkSettingsError(
                f"{self.env_name('metrics_port')}={first} gives sink {system} (writable system "
                f"{metrics_port_offset(system, writable) + 1} of {len(writable)}) port {metrics_port}, above 65535; "
                f"set it to at most {65535 - len(writable) + 1}, or 0 for free ports")
        return ResolvedSinkSettings(
            system=system,
            settings=self,
            command_topic=self.command_topic or command_topic(system),
            results_topic=self.results_topic or results_topic(system),
            dlq_topic=self.dlq_topic or dlq_topic(),
            group_id=self.group_id or names.group(sink_group(system)),
            transactional_id=self.transactional_id or names.transactional_id(sink_group(system)),
            worker_id=worker_id,
            client_id=names.client_id(worker_id),
            metrics_port=metrics_port,
        )


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
    #: The Kafka clients' ``client.id``: the worker id under the client id prefix.
    client_id: str
    metrics_port: int
