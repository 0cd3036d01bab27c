"""The test suite's own stack: another home and other ports than the one `isthmus up` and `make demo` use.

Tests leave data behind (consumer groups such as ``engine-probe-…``, topics ``it-…``, customers with random
numbers): on a stack of their own it never reaches the demo's dashboard, and a demo left running does not take
the tests' ports. ``tests/conftest.py`` applies :func:`stack_env_for_tests` unless ``ISTHMUS_HOME`` is given: a run
that names a home (``ISTHMUS_STACK=external ISTHMUS_HOME=…``) runs on that stack, at the ports its variables say.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

from streams.stack.settings import default_home

#: Ports 22xxx, below Linux's ephemeral range (32768-60999), apart from the default 1xxxx and the chaos suite's
#: 26xxx; the worker's and dashboard's too, so a test's worker never meets the demo's.
STACK_PORTS_FOR_TESTS: Mapping[str, str] = {
    "ISTHMUS_KAFKA_PORT": "22092",
    "ISTHMUS_KAFKA_CONTROLLER_PORT": "22093",
    "ISTHMUS_CONNECT_PORT": "22083",
    "ISTHMUS_CRM_DB_PORT": "22432",
    "ISTHMUS_ERP_DB_PORT": "22306",
    "ISTHMUS_CRM_API_PORT": "22001",
    "ISTHMUS_ERP_API_PORT": "22002",
    "ISTHMUS_TRYTON_PORT": "22010",
    "ISTHMUS_WORKER_PORT": "22090",
    "ISTHMUS_DASHBOARD_PORT": "22088",
    # The sinks' and the loader's /metrics: a free port each (several sinks run at once in one test).
    "ISTHMUS_SINK_METRICS_PORT": "0",
    "ISTHMUS_WAREHOUSE_METRICS_PORT": "0",
}


def stack_env_for_tests() -> dict[str, str]:
    """``ISTHMUS_HOME`` (``<project>/.isthmus-test``) and the ports of the tests' stack."""
    return {"ISTHMUS_HOME": str(default_home(suffix="-test")), **STACK_PORTS_FOR_TESTS}


def use_stack_for_tests(env: MutableMapping[str, str] | None = None) -> bool:
    """Point ``env`` (default ``os.environ``) at the tests' stack unless it names a home; True if it did.

    A port variable already set wins over the profile's."""
    env = os.environ if env is None else env
    if env.get("ISTHMUS_HOME"):
        return False
    for name, value in stack_env_for_tests().items():
        if not env.get(name):
            env[name] = value
    return True


__all__ = ["STACK_PORTS_FOR_TESTS", "stack_env_for_tests", "use_stack_for_tests"]
