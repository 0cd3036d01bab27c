"""Where Isthmus' own data folders are: the source checkout's, or the ones an installed wheel ships.

A source checkout (or an editable install) reads ``schemas/``, ``mappings/``, ``targets/``, ``systems/``,
``flows/``, ``connect-configs/`` and ``warehouse/`` from the project folder. A wheel ships the same folders as
data files under ``<prefix>/share/isthmus/`` (pyproject.toml, ``[tool.setuptools.data-files]``), because they
are top-level folders of the project and not inside the ``streams`` package. Every folder is also overridable
(streams/config/model.py, ``DirectorySettings``).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

#: The source checkout this module sits in (for an installed wheel: the folder above site-packages' streams/).
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Every data folder Isthmus reads, each shipped in the wheel.
DATA_FOLDERS = ("schemas", "mappings", "targets", "systems", "flows", "connect-configs", "warehouse")


def data_root(project_root: Path = PROJECT_ROOT, prefix: Path | None = None) -> Path:
    """The project folder when it holds the data folders (a checkout), else the wheel's ``share/isthmus``."""
    if (project_root / "schemas").is_dir():
        return project_root
    return (prefix or Path(sysconfig.get_path("data"))) / "share" / "isthmus"


DATA_ROOT = data_root()
