"""The runtime settings of a command: environment, ``--config`` (or ``ISTHMUS_CONFIG``), and the stack's offer.

The CLI is the one place that knows both the runtime and the local stack: it passes the stack's offer to
``RuntimeSettings.load`` as the weakest source, so runtime modules never import streams/stack.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from streams.config import RuntimeSettings
from streams.config.dirs import DirectorySettings
from streams.config.kafka import KafkaSettings
from streams.config.model import ConfigFile
from streams.config.section import Section
from streams.errors import IsthmusError
from streams.stack.offer import runtime_offer
from streams.stack.settings import StackSettings

CONFIG_ENV = "ISTHMUS_CONFIG"


def config_path(args: argparse.Namespace | None = None) -> Path | None:
    given = getattr(args, "config", None) or os.environ.get(CONFIG_ENV, "").strip()
    return Path(given) if given else None


def config_targets_dir(args: argparse.Namespace | None = None) -> Path | None:
    """The target files' folder a ``--config`` file names (``dirs.sink_targets_dir``), if it names one and reads;
    a file that does not is reported by the command that loads it."""
    path = config_path(args)
    if path is None:
        return None
    try:
        given = ConfigFile.read(path).values.get(DirectorySettings.NAME, {}).get("sink_targets_dir")
    except IsthmusError:
        return None
    return Path(given) if given else None


def stack_home() -> Path:
    """The local stack's home, where ``<home>/secrets/tokens`` (the inspection roles) is looked for when
    ``ISTHMUS_TOKENS`` is not set."""
    return StackSettings.from_env().home


def load_runtime(args: argparse.Namespace | None = None) -> RuntimeSettings:
    """The effective settings; a folder or a name prefix (streams/kafka/names.py) a ``--config`` file sets is also
    put in this process's environment, where every folder's reader and name builder (and every child process)
    looks for it."""
    settings = RuntimeSettings.load(os.environ, config_file=config_path(args),
                                    stack=runtime_offer(StackSettings.from_env()))
    exported: list[tuple[type[Section], str]] = [(DirectorySettings, name) for name in DirectorySettings.model_fields]
    exported += [(KafkaSettings, name) for name in KafkaSettings.PREFIXES]
    for section, name in exported:
        if settings.origins[(section.NAME, name)] == "file":
            os.environ[section.env_name(name)] = str(getattr(getattr(settings, section.NAME), name))
    return settings
