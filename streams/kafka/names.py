"""Every name Isthmus gives Kafka of its own, with the prefixes of the kafka section, built here and only here.

A shared cluster grants a principal prefixed ACLs (``--resource-pattern-type prefixed``): the kafka section's
``client_id_prefix``, ``group_prefix`` and ``topic_prefix`` (``ISTHMUS_KAFKA_CLIENT_ID_PREFIX``, ...) go in
front of

- :func:`topic`: every topic Isthmus creates or reads of its own (commands, results, dead letters, holds,
  canonical, audit, the customer-360 view, the flows' changelogs and keying topics); never a CDC topic, which
  the systems' files name (``systems/<name>.yaml``) and Debezium writes;
- :func:`group` and :func:`transactional_id`: every consumer group (a flow's name, ``isthmus-sink-<system>``)
  and every transactional id (``<flow>-<partition>``, ``isthmus-sink-<system>``), the same prefix for both, so
  one prefixed ACL of each kind covers them;
- :func:`client_id`: every ``client.id`` Isthmus sets (worker, sinks, loader, dashboard, ``isthmus topics``).

The prefixes are read from the process's environment when a name is built, like the folders
(:mod:`streams.config.dirs`): ``isthmus`` puts the ones a ``--config`` file sets there too (streams/cli/runtime.py),
so every module, and every child process, builds the same names without the settings being passed down to it.
Empty (the default) leaves every name as it was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

#: The variables of the prefixes (the kafka section's fields ``<kind>_prefix``).
TOPIC_PREFIX_ENV = "ISTHMUS_KAFKA_TOPIC_PREFIX"
GROUP_PREFIX_ENV = "ISTHMUS_KAFKA_GROUP_PREFIX"
CLIENT_ID_PREFIX_ENV = "ISTHMUS_KAFKA_CLIENT_ID_PREFIX"

#: What a prefix may hold: the characters of a Kafka topic name (the strictest of the three kinds of name).
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9._-]*$")


def _prefix(variable: str, env: Mapping[str, str] | None) -> str:
    return (os.environ if env is None else env).get(variable, "").strip()


def topic(name: str, env: Mapping[str, str] | None = None) -> str:
    """``name`` (e.g. ``isthmus.dlq``) as the topic Isthmus uses: ``<topic_prefix><name>``."""
    return _prefix(TOPIC_PREFIX_ENV, env) + name


def group(name: str, env: Mapping[str, str] | None = None) -> str:
    """``name`` (a flow's name, ``isthmus-sink-<system>``) as the consumer group: ``<group_prefix><name>``."""
    return _prefix(GROUP_PREFIX_ENV, env) + name


def transactional_id(name: str, env: Mapping[str, str] | None = None) -> str:
    """``name`` as the transactional id: ``<group_prefix><name>`` (one prefix for groups and transactions)."""
    return _prefix(GROUP_PREFIX_ENV, env) + name


def client_id(name: str, env: Mapping[str, str] | None = None) -> str:
    """``name`` (e.g. ``isthmus-admin``) as the ``client.id``: ``<client_id_prefix><name>``."""
    return _prefix(CLIENT_ID_PREFIX_ENV, env) + name
