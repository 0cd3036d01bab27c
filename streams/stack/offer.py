"""What the local stack offers the runtime settings: its broker, its Kafka Connect, its databases and hosts.

The stack is one producer of the runtime settings (streams/config), never a dependency of them: the CLI
passes this offer as the weakest source above the defaults, and ``isthmus up`` writes it to
``<home>/runtime.yaml``, a ``--config`` file to start from. The offer holds the stack's database passwords
(in connection strings), so that file is written for its owner only, like the secrets file it comes from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import yaml

from streams.stack.databases import crm_conninfo
from streams.stack.secrets import load_or_create
from streams.stack.settings import StackSettings


def runtime_offer(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """The runtime settings the stack's services answer for, by section and field."""
    secrets = load_or_create(settings.home)
    # the server: each reader names its database on it (the warehouse's ``database``)
    server = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(crm_conninfo(settings, secrets)).items()
              if k != "dbname" and v is not None}
    return {"kafka": {"bootstrap_servers": [settings.bootstrap_servers]},
            "connect": {"urls": [settings.connect_url]},
            "worker": {"host": settings.host},
            "warehouse": {"dsn": psycopg.conninfo.make_conninfo("", **server)}}


def write_offer(settings: StackSettings) -> Path:
    """``<home>/runtime.yaml``: the offer as a ``--config`` file, readable by its owner only."""
    path = settings.home / "runtime.yaml"
    text = ("# The local stack's runtime settings (isthmus up): use with `isthmus --config " + str(path) + "`\n"
            + yaml.safe_dump(runtime_offer(settings), sort_keys=False))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)
    return path
