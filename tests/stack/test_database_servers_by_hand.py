"""The stack's databases restarted by hand, without the stack (README.md, "Restarting the databases by hand"):
the stack knows each server by the pid file the server keeps itself, and each server's settings are in a file it
reads without any command-line option, so a DBA's plain `pg_ctl -D <data dir> restart` (or MariaDB started with
its options file) brings it back as the stack runs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.stack.prerequisites import Toolchain
from streams.stack.progress import Progress
from streams.stack.secrets import load_or_create
from streams.stack.services.base import ServiceContext
from streams.stack.services.crm_db import INCLUDE_SETTINGS, SETTINGS_FILE, CrmDatabase
from streams.stack.services.erp_db import ErpDatabase
from streams.stack.settings import StackSettings

pytestmark = pytest.mark.unit

TOOLCHAIN = Toolchain(java="java", mvn="mvn", pg_bin=Path("/opt/pg/bin"), mariadbd="/opt/mariadbd",
                      mariadb_install_db="/opt/mariadb-install-db")


def _context(tmp_path: Path) -> ServiceContext:
    settings = StackSettings.from_env({"ISTHMUS_HOME": str(tmp_path), "ISTHMUS_CRM_DB_PORT": "25432",
                                       "ISTHMUS_ERP_DB_PORT": "25306"})
    return ServiceContext(settings=settings, secrets=load_or_create(settings.home), toolchain=TOOLCHAIN,
                          progress=Progress())


@pytest.fixture
def server_in(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process that works in a data directory, as PostgreSQL's postmaster does, started by someone else."""
    data = tmp_path / "data" / "crm-postgres"
    data.mkdir(parents=True)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], cwd=data,
                               start_new_session=True)
    yield process
    process.kill()
    process.wait()


def test_crm_db_after_a_dba_restart_is_the_postmaster_its_data_directory_names(
        tmp_path: Path, server_in: subprocess.Popen[bytes]) -> None:
    service = CrmDatabase(_context(tmp_path))
    # the stack started the server once (its pid file names a process long gone), then a DBA restarted it
    service.process.pid_path.parent.mkdir(parents=True)
    service.process.pid_path.write_text("999999999 1\n")
    (service.data_dir / "postmaster.pid").write_text(f"{server_in.pid}\n{service.data_dir}\n1700000000\n25432\n")

    assert service.process.pid() == server_in.pid


def test_crm_db_settings_are_in_its_data_directory_not_on_its_command_line(tmp_path: Path) -> None:
    service = CrmDatabase(_context(tmp_path))
    service.data_dir.mkdir(parents=True)
    main = service.data_dir / "postgresql.conf"
    main.write_text("max_connections = 100\nshared_buffers = 128MB")  # as initdb leaves it (last line unended)

    service.write_server_settings(None)
    service.write_server_settings(None)  # every start: the include is added once

    assert main.read_text().splitlines().count(INCLUDE_SETTINGS) == 1
    assert main.read_text().startswith("max_connections = 100\nshared_buffers = 128MB\n")
    settings = (service.data_dir / SETTINGS_FILE).read_text().splitlines()
    for line in ("port = 25432", "listen_addresses = '127.0.0.1'", "wal_level = 'logical'",
                 "max_replication_slots = 10", "max_wal_senders = 10",
                 f"unix_socket_directories = '{service.socket_dir}'"):
        assert line in settings
    assert service.launch().argv == ("/opt/pg/bin/postgres", "-D", str(service.data_dir))


def test_erp_db_reads_its_options_from_one_file_and_is_known_by_its_pid_file(tmp_path: Path) -> None:
    service = ErpDatabase(_context(tmp_path))

    service.write_server_options()

    assert service.launch().argv == ("/opt/mariadbd", f"--defaults-file={service.options_file}")
    options = service.options_file.read_text().splitlines()
    assert "[mysqld]" in options
    for line in (f"datadir={service.data_dir}", "port=25306", "bind-address=127.0.0.1",
                 f"socket={service.socket_path}", "binlog-format=ROW", "skip-name-resolve"):
        assert line in options
    server_pid_file = service.process.server_pid_file
    assert server_pid_file is not None and f"pid-file={server_pid_file.path}" in options
    assert server_pid_file.workdir == service.data_dir
