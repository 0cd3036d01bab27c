"""The stack's PostgreSQL and MariaDB restarted by hand, on a stack of their own (own home, own free ports; no Kafka):
a DBA's `pg_ctl restart -m fast`, then a plain `pg_ctl stop` and `pg_ctl start`, and MariaDB stopped and started
again with its options file. `isthmus status | up | down` follow each server, and each comes back as the stack runs
it (its port, `wal_level=logical`). README.md, "Restarting the databases by hand"."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ports import free_ports
from support.waiting import eventually

from streams.stack.manager import StackManager
from streams.stack.prerequisites import find_toolchain
from streams.stack.services.base import run_as_service_user
from streams.stack.services.crm_db import CrmDatabase
from streams.stack.services.erp_db import ErpDatabase
from streams.stack.settings import StackSettings

pytestmark = [pytest.mark.integration, pytest.mark.beside]


@pytest.fixture
def manager() -> Iterator[StackManager]:
    # /var/tmp, not pytest's private tmp_path: PostgreSQL runs as the postgres user and must reach its data.
    home = Path("/var/tmp") / f"isthmus-by-hand-{uuid.uuid4().hex[:8]}"
    crm_port, erp_port = free_ports(2)
    manager = StackManager(StackSettings.from_env({"ISTHMUS_HOME": str(home), "ISTHMUS_CRM_DB_PORT": str(crm_port),
                                                   "ISTHMUS_ERP_DB_PORT": str(erp_port)}))
    yield manager
    manager.down(["crm-db", "erp-db"])
    shutil.rmtree(home, ignore_errors=True)


def _pg_ctl(crm: CrmDatabase, *args: str) -> None:
    """As a DBA runs it: as the server's user, with nothing but the data directory."""
    user = run_as_service_user("postgres")
    argv = [*(["runuser", "-u", user, "--"] if user else []), str(find_toolchain().pg_bin / "pg_ctl"),
            "-D", str(crm.data_dir), *args]
    # the server inherits pg_ctl's output: /dev/null, or this call would wait for it to close
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
    assert result.returncode == 0, argv


def _states(manager: StackManager) -> dict[str, tuple[str, int | None]]:
    return {s.name: (s.state, s.pid) for s in manager.status() if s.name in ("crm-db", "erp-db")}


def test_status_up_and_down_follow_databases_restarted_by_hand(manager: StackManager) -> None:
    manager.up(["crm-db", "erp-db"])
    crm, erp = (service for service in manager._services(with_toolchain=True) if service.name in ("crm-db", "erp-db"))
    assert isinstance(crm, CrmDatabase) and isinstance(erp, ErpDatabase)
    first = _states(manager)

    _pg_ctl(crm, "restart", "-m", "fast")
    states = _states(manager)
    assert states["crm-db"][0] == "running" and states["crm-db"][1] != first["crm-db"][1], states
    assert manager.up(["crm-db"]) is False  # "already running", not "port ... is used by another process"

    # a plain start: nothing on the command line, yet the stack's port and wal_level
    _pg_ctl(crm, "stop", "-m", "fast")
    assert _states(manager)["crm-db"][0] == "stopped"
    _pg_ctl(crm, "start")
    with crm.superuser() as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        assert conn.execute("SHOW port").fetchone() == (str(manager.settings.crm_db_port),)
    assert _states(manager)["crm-db"][0] == "running"

    # MariaDB has no pg_ctl: a DBA stops it and starts it with the one file of options the stack writes
    erp_pid = first["erp-db"][1]
    assert erp_pid is not None
    os.kill(erp_pid, signal.SIGTERM)
    eventually("erp-db stopped", lambda: _states(manager)["erp-db"][0] == "stopped", timeout=30)
    by_hand = subprocess.Popen([find_toolchain().mariadbd, f"--defaults-file={erp.options_file}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    eventually("erp-db running again", lambda: _states(manager)["erp-db"] == ("running", by_hand.pid), timeout=60)

    stopped = dict(manager.down(["crm-db", "erp-db"]))
    assert stopped["crm-db"] is not None and stopped["erp-db"] is not None, stopped
    assert _states(manager) == {"crm-db": ("stopped", None), "erp-db": ("stopped", None)}
    assert not crm.is_healthy() and not erp.is_healthy()
