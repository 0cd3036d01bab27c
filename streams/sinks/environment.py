"""What a sink worker and its adapter are built from: the runtime settings a sink reads (Kafka, sink, endpoints,
folders), the environment, the declared systems. An adapter plugin's factory receives it
(streams.sinks.adapters.registry)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from streams.config.dirs import DirectorySettings
from streams.config.endpoints import EndpointSettings
from streams.config.kafka import KafkaAddress, KafkaSettings
from streams.config.model import Layer, RuntimeSettings
from streams.config.section import Section
from streams.sinks.exceptions import SinkSettingsError
from streams.sinks.settings import SinkSettings
from streams.systems import Systems, load_systems

S = TypeVar("S", bound=Section)


@dataclass(frozen=True, kw_only=True)
class SinkEnvironment:
    sink: SinkSettings
    #: The systems' API URLs, database DSNs and secrets file (streams/config/endpoints.py).
    endpoints: EndpointSettings
    env: Mapping[str, str]
    #: The declared systems (systems/, or ISTHMUS_SYSTEMS_DIR): which take commands, through which target file.
    systems: Systems
    #: The Kafka cluster (streams/config); None: none given (an adapter alone needs none).
    kafka: KafkaAddress | None = None
    #: ``ISTHMUS_SINK_TARGETS_DIR``: a folder of target files instead of the ones the systems files name.
    targets_dir: Path | None = None

    @property
    def bootstrap(self) -> KafkaAddress:
        if self.kafka is None:
            raise SinkSettingsError(f"no Kafka cluster to consume the commands from; fix: set "
                                  f"{KafkaSettings.env_name('bootstrap_servers')} (or kafka.bootstrap_servers in "
                                  "the --config file), or run the local stack (isthmus up), which offers its own")
        return self.kafka

    @classmethod
    def from_runtime(cls, runtime: RuntimeSettings, env: Mapping[str, str] | None = None) -> SinkEnvironment:
        """A sink's part of the effective runtime settings (``isthmus sink``)."""
        env = dict(os.environ) if env is None else env
        return cls(sink=runtime.sink, endpoints=runtime.endpoints, env=env, systems=load_systems(env=env),
                   kafka=runtime.kafka, targets_dir=runtime.dirs.sink_targets_dir)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, stack: Layer | None = None) -> SinkEnvironment:
        """From ``env`` over ``stack`` (the local stack's offer, streams/stack/offer.py, which tests against the
        running stack pass in) and the defaults; the Kafka cluster only when one of them names it."""
        env = dict(os.environ) if env is None else env
        offer = stack or {}
        kafka = {**offer.get(KafkaSettings.NAME, {}), **KafkaSettings.from_environment(env)}
        return cls(sink=_layered(SinkSettings, env, offer), endpoints=_layered(EndpointSettings, env, offer), env=env,
                   systems=load_systems(env=env), kafka=_layered(KafkaSettings, env, offer) if kafka else None,
                   targets_dir=_layered(DirectorySettings, env, offer).sink_targets_dir)


def _layered(section: type[S], env: Mapping[str, str], offer: Layer) -> S:
    """``section`` from ``env`` over the offer's values; errors as the section's own (``Section.from_env``)."""
    given = offer.get(section.NAME, {})
    if not given:
        return section.from_env(env)
    return section.model_validate({**given, **section.from_environment(env)})
