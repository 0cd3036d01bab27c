"""What a sink worker and its adapter are built from: stack settings, sink settings, the environment, the
declared systems. An adapter plugin's factory receives it (streams.sinks.adapters.registry)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.config.dirs import DirectorySettings
from streams.config.kafka import KafkaAddress
from streams.sinks.settings import SinkSettings
from streams.stack.settings import StackSettings
from streams.systems import Systems, load_systems


@dataclass(frozen=True, kw_only=True)
class SinkEnvironment:
    stack: StackSettings
    sink: SinkSettings
    env: Mapping[str, str]
    #: The declared systems (systems/, or ISTHMUS_SYSTEMS_DIR): which take commands, through which target file.
    systems: Systems
    #: The Kafka cluster (streams/config); None: the stack's broker.
    kafka: KafkaAddress | None = None
    #: ``ISTHMUS_SINK_TARGETS_DIR``: a folder of target files instead of the ones the systems files name.
    targets_dir: Path | None = None

    @property
    def bootstrap(self) -> KafkaAddress:
        return self.kafka or self.stack.bootstrap_servers

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SinkEnvironment:
        env = dict(os.environ) if env is None else env
        return cls(stack=StackSettings.from_env(env), sink=SinkSettings.from_env(env), env=env,
                   systems=load_systems(env=env), targets_dir=DirectorySettings.from_env(env).sink_targets_dir)
