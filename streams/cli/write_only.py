"""A connector name that is a write-only system's (``capture: none``): the connector commands say what it is,
rather than only that no connector file has that name."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from streams.capture.configs import CONNECTORS_DIR, ConfigSet
from streams.capture.exceptions import ConfigError
from streams.config_files.problem import shown
from streams.errors import IsthmusError
from streams.systems import Systems, load_systems, systems_dir
from streams.systems.loader import SYSTEMS_DIR_ENV


def systems_folder_of(configs_root: Path) -> Path:
    """The systems folder that goes with a configs folder: ``ISTHMUS_SYSTEMS_DIR`` when it is set (the user said
    so), else the ``systems/`` folder beside the configs folder (as a system file finds its connector), else the
    project's."""
    folder = configs_root.parent / "systems"
    if os.environ.get(SYSTEMS_DIR_ENV) or not folder.is_dir():
        return systems_dir()
    return folder


def systems_beside(configs_root: Path) -> Systems | None:
    """The systems of :func:`systems_folder_of` a configs folder; None when they cannot be read (``isthmus mappings
    validate`` says why)."""
    try:
        return load_systems(systems_folder_of(configs_root))
    except IsthmusError:
        return None


def refuse_write_only(config_set: ConfigSet, names: Sequence[str]) -> None:
    """Raise :class:`ConfigError` for a name of ``names`` with no connector file that is a write-only system."""
    unknown = [n for n in names if n not in config_set.files]
    systems = systems_beside(config_set.root) if unknown else None
    for name in unknown:
        spec = systems.get(name) if systems is not None else None
        if spec is not None and not spec.captured:
            raise ConfigError(f"{name} is a system Isthmus only writes into (capture: none in {shown(spec.path)}): "
                              "it has no connector; fix: leave it out (without names, every connector of "
                              f"{shown(config_set.root / CONNECTORS_DIR)} is meant)")
