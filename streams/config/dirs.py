"""The folders Isthmus reads its declarations from (variables ``ISTHMUS_*_DIR``), each overridable.

Defaults: the source checkout's folders, or the ones an installed wheel ships (streams/config/paths.py).
The readers of each folder (systems, mappings, flows, targets loaders) take these variables from the
environment they are given; ``isthmus`` puts a ``--config`` file's folders there (streams/cli/runtime.py);
``isthmus connectors`` reads ``connect_configs_dir`` (its ``--configs`` still wins). The built-in schemas and the
warehouse's SQL are read from the data root; ``schemas_dir`` adds a folder of your own schemas to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from streams.config.paths import DATA_ROOT
from streams.config.section import Section


def folder(name: str) -> Path:
    """The default of a data folder: ``<data root>/<name>``."""
    return DATA_ROOT / name


class DirectorySettings(Section):
    NAME: ClassVar[str] = "dirs"
    model_config = SettingsConfigDict(env_prefix="ISTHMUS_")

    mappings_dir: Path = Field(default_factory=lambda: folder("mappings"), description="folder of the mapping files")
    systems_dir: Path = Field(default_factory=lambda: folder("systems"),
                              description="folder of the system files <name>.yaml")
    flows_dir: Path = Field(default_factory=lambda: folder("flows"),
                            description="folder of the flow files <name>.yaml: which built-in flows run")
    sink_targets_dir: Path = Field(default_factory=lambda: folder("targets"),
                                   description="folder of the target files <system>.yaml")
    connect_configs_dir: Path = Field(default_factory=lambda: folder("connect-configs"),
                                      description="folder of the Kafka Connect connector configs")
    schemas_dir: Path | None = Field(None, description="folder of your own Avro schemas (*.avsc, and history/), "
                                                       "read beside the built-in schemas/: a new system's "
                                                       "canonical records; a name Isthmus defines is refused")
