"""The same stack on a Docker engine, through testcontainers' compose support and docker-compose.yml.

Used by the test harness with ``ISTHMUS_STACK=containers``. Ports are the defaults of ``StackSettings``,
published on loopback by docker-compose.yml; the database passwords come from the stack's secrets file, so
connector configs resolve them the same way in both stacks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from streams.stack.exceptions import PrerequisiteMissing, ServiceStartError
from streams.stack.progress import Progress
from streams.stack.running import RunningStack
from streams.stack.secrets import load_or_create
from streams.stack.services import all_services
from streams.stack.services.base import ServiceContext
from streams.stack.settings import PROJECT_ROOT, StackSettings

COMPOSE_FILE = "docker-compose.yml"


@contextmanager
def container_stack(settings: StackSettings, timeout: float = 300.0) -> Iterator[RunningStack]:
    try:
        from testcontainers.compose import DockerCompose
    except ImportError as exc:  # pragma: no cover - testcontainers is a dev dependency
        raise PrerequisiteMissing("ISTHMUS_STACK=containers needs testcontainers: run `make setup`") from exc
    secrets = load_or_create(settings.home)
    os.environ["ISTHMUS_CRM_DB_PASSWORD"] = secrets.crm_db_password.reveal()
    os.environ["ISTHMUS_ERP_DB_PASSWORD"] = secrets.erp_db_password.reveal()
    os.environ["ISTHMUS_HOME"] = str(settings.home)
    compose = DockerCompose(str(PROJECT_ROOT), compose_file_name=COMPOSE_FILE, pull=True)
    compose.start()
    try:
        ctx = ServiceContext(settings=settings, secrets=secrets, toolchain=None, progress=Progress())
        pending = [s for s in all_services(ctx) if s.name not in ("crm-db", "erp-db")]
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            pending = [s for s in pending if not s.is_healthy()]
            time.sleep(1)
        if pending:
            raise ServiceStartError("containers did not become healthy: " + ", ".join(s.name for s in pending))
        yield RunningStack(settings, secrets)
    finally:
        compose.stop()
