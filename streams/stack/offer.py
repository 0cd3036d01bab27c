"""What the local stack offers the runtime settings: its broker, Kafka Connect, APIs, databases and hosts.

The stack is one producer of the runtime settings (streams/config), never a dependency of them: the CLI
passes this offer as the weakest source above the defaults, and ``isthmus up`` writes it to
``<home>/runtime.yaml``, a ``--config`` file to start from. The offer holds the stack's database passwords
(in connection strings), so that file is written for its owner only, like the secrets file it comes from. Its
database servers name their password as a reference to the secrets file, ``${file:<path>:<key>}`` (Kafka
Connect's form), read again for each new connection: a password rotated there reaches running sinks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg
import yaml

from streams.stack.databases import crm_conninfo
from streams.stack.secrets import StackSecrets, load_or_create
from streams.stack.settings import StackSettings


def stack_variables(settings: StackSettings, secrets: StackSecrets) -> dict[str, str]:
    """The connector configs' placeholders the stack answers for (``capture.variables``): its settings and
    secrets file."""
    return {
        "host": settings.host,
        "crm_db_port": str(settings.crm_db_port),
        "erp_db_port": str(settings.erp_db_port),
        "kafka_bootstrap_servers": settings.bootstrap_servers,
        "connect_url": settings.connect_url,
        "secrets_file": str(secrets.path),
        "erp_time_zone": settings.erp_time_zone,
    }


def erp_conninfo(settings: StackSettings, secrets: StackSecrets) -> str:
    """The ERP's MariaDB as a libpq-style string, the form of ``endpoints.databases``."""
    return psycopg.conninfo.make_conninfo(host=settings.host, port=settings.erp_db_port, user=settings.db_user,
                                          password=secrets.erp_db_password.reveal(), dbname=settings.erp_db_name,
                                          connect_timeout=5)


def referenced(conninfo: str, secrets: StackSecrets, key: str) -> str:
    """``conninfo`` with its password as the reference to key ``key`` of the secrets file: the runtime reads the
    file for each new connection (streams/config/endpoints.py), so a rotated password needs no restart."""
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    parts["password"] = secrets.connect_reference(key)
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in parts.items() if v is not None})


def runtime_offer(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """The runtime settings the stack's services answer for, by section and field."""
    secrets = load_or_create(settings.home)
    # the server: each reader names its database on it (the warehouse's ``database``)
    server = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(crm_conninfo(settings, secrets)).items()
              if k != "dbname" and v is not None}
    return {"kafka": {"bootstrap_servers": [settings.bootstrap_servers],
                      "tools_dir": str(settings.jars_dir / "kafka")},
            "connect": {"urls": [settings.connect_url]},
            # its servers by engine: the CRM's PostgreSQL, the ERP's MariaDB (which serves MySQL targets too)
            "endpoints": {"api_urls": {"crm": settings.crm_api_url, "erp": settings.erp_api_url},
                          "databases": {"postgresql": referenced(crm_conninfo(settings, secrets), secrets,
                                                                 "crm.db.password"),
                                        "mariadb": referenced(erp_conninfo(settings, secrets), secrets,
                                                              "erp.db.password"),
                                        "mysql": referenced(erp_conninfo(settings, secrets), secrets,
                                                            "erp.db.password")},
                          "secrets_file": str(secrets.path)},
            # the schema history's brokers follow the kafka section (RuntimeSettings.connector_variables), which
            # the stack offers too: a configured Kafka is the history's as well, not the stack's
            "capture": {"variables": {k: v for k, v in stack_variables(settings, secrets).items()
                                      if k != "kafka_bootstrap_servers"}},
            "worker": {"host": settings.host, "state_dir": str(settings.home / "state")},
            "sink": {"metrics_host": settings.host},
            "warehouse": {"dsn": psycopg.conninfo.make_conninfo("", **server)}}


def write_offer(settings: StackSettings, running: Iterable[str] | None = None) -> Path:
    """``<home>/runtime.yaml``: the offer as a ``--config`` file, readable by its owner only (it holds the database
    passwords). ``running``: the stack's services that run (None: all); a stack without its Kafka or Connect
    (``isthmus up crm-api erp-api`` beside your own) offers no address of theirs."""
    path = settings.home / "runtime.yaml"
    offer = runtime_offer(settings)
    if running is not None:
        started = set(running)
        if "kafka" not in started:
            offer["kafka"].pop("bootstrap_servers")  # the capture variables follow it (never offered apart)
        if "connect" not in started:
            offer.pop("connect")
            offer["capture"]["variables"].pop("connect_url", None)
    text = ("# The local stack's runtime settings (isthmus up): use with `isthmus --config " + str(path) + "`\n"
            + yaml.safe_dump(offer, sort_keys=False))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)
    return path
