"""What the local stack offers the runtime settings: its broker and its Kafka Connect.

The stack is one producer of the runtime settings (streams/config), never a dependency of them: the CLI
passes this offer as the weakest source above the defaults, and ``isthmus up`` writes it to
``<home>/runtime.yaml``, a ``--config`` file to start from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from streams.stack.settings import StackSettings


def runtime_offer(settings: StackSettings) -> dict[str, dict[str, Any]]:
    return {"kafka": {"bootstrap_servers": [settings.bootstrap_servers]},
            "connect": {"urls": [settings.connect_url]}}


def write_offer(settings: StackSettings) -> Path:
    """``<home>/runtime.yaml``: the offer as a ``--config`` file."""
    path = settings.home / "runtime.yaml"
    path.write_text("# The local stack's runtime settings (isthmus up): use with `isthmus --config " + str(path)
                    + "`\n" + yaml.safe_dump(runtime_offer(settings), sort_keys=False), encoding="utf-8")
    return path
