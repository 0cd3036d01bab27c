"""The ERP database: a MariaDB server of the stack's own, with a row-based binlog of full images and GTIDs.

The root account is reached only through the server's unix socket; the application user ``isthmus``
logs in over loopback TCP with a password and holds the replication privileges Debezium needs.

The server reads its options from one file the stack writes on every start (``<home>/conf/erp-db.cnf``, and no
other: ``--defaults-file``), and the stack knows it by the pid file the server keeps: a DBA restarts it with
``mariadbd --defaults-file=<home>/conf/erp-db.cnf`` and ``isthmus status | up | down`` follow it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pymysql

from streams.stack.exceptions import StackError
from streams.stack.process import LaunchSpec, ServerPidFile
from streams.stack.services.base import Service, port_open

REPLICATION_GRANTS = "SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR, LOCK TABLES"
#: Database name patterns the application user may create and drop: tests and tools make scratch ERPs there.
SCRATCH_DATABASES = ("isthmus\\_%", "erp\\_%")


class ErpDatabase(Service):
    name = "erp-db"

    @property
    def address(self) -> str:
        return f"mysql://{self.settings.host}:{self.settings.erp_db_port}/{self.settings.erp_db_name}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.erp_db_port,)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir / "erp-mariadb"

    @property
    def socket_path(self) -> Path:
        return self.settings.run_dir / "erp-mariadb.sock"

    @property
    def options_file(self) -> Path:
        return self.ctx.conf_dir / f"{self.name}.cnf"

    def server_pid_file(self) -> ServerPidFile:
        return ServerPidFile(path=self.settings.run_dir / "erp-mariadb.server.pid", workdir=self.data_dir)

    def _os_user(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def prepare(self) -> None:
        if not (self.data_dir / "mysql").is_dir():
            self._install_db()
        self.write_server_options()

    def _install_db(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [self.toolchain.mariadb_install_db, "--no-defaults", f"--datadir={self.data_dir}",
                "--skip-test-db", "--auth-root-authentication-method=socket", *self._os_user()]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"mariadb-install-db in {self.data_dir} failed:\n{result.stdout}{result.stderr}")
        self.ctx.progress.say(f"erp-db: initialised a MariaDB data directory in {self.data_dir}")

    def write_server_options(self) -> None:
        """The server's options, in the file it reads alone: written on every start from the stack's settings."""
        options = "".join(f"{option.removeprefix('--')}\n" for option in self._options())
        self.options_file.parent.mkdir(parents=True, exist_ok=True)
        self.options_file.write_text("# Written by isthmus on every start of erp-db: the options the stack runs "
                                     "MariaDB with (`mariadbd --defaults-file=<this file>`).\n# Edit the stack's "
                                     f"settings, not this file.\n[mysqld]\n{options}")

    def launch(self) -> LaunchSpec:
        """The options are in :attr:`options_file` (:meth:`write_server_options`, called by :meth:`prepare`)."""
        return LaunchSpec(argv=(self.toolchain.mariadbd, f"--defaults-file={self.options_file}"))

    def _options(self) -> tuple[str, ...]:
        s = self.settings
        pid_file = self.server_pid_file().path
        return (
            f"--datadir={self.data_dir}", *self._os_user(),
            f"--port={s.erp_db_port}", f"--bind-address={s.host}", f"--socket={self.socket_path}",
            f"--pid-file={pid_file}",
            "--server-id=1", f"--log-bin={self.data_dir / 'binlog'}", "--binlog-format=ROW",
            "--binlog-row-image=FULL", "--binlog-expire-logs-seconds=604800", "--gtid-strict-mode=ON",
            "--innodb-buffer-pool-size=128M",
            # A local reference stack: the redo log is written at commit and flushed once a second, the
            # binlog left to the OS. A process crash loses nothing; only a machine crash could lose ~1 s.
            "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
            "--max-connections=200", "--default-time-zone=+00:00",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci", "--skip-name-resolve",
        )

    def root(self, database: str | None = None) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(unix_socket=str(self.socket_path), user="root", database=database,
                               connect_timeout=3, autocommit=True)

    def is_healthy(self) -> bool:
        if not port_open(self.settings.host, self.settings.erp_db_port):
            return False
        try:
            with self.root() as conn, conn.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except pymysql.MySQLError:
            return False

    def bootstrap(self) -> None:
        user = self.settings.db_user
        password = self.ctx.secrets.erp_db_password.reveal()
        database = self.settings.erp_db_name
        with self.root() as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
            # CREATE/ALTER USER ... IDENTIFIED BY is written to the binlog with the password in it, and the binlog is
            # readable by the server's group (0660): this session's account statements stay out of it (no replica
            # and no capture needs them; Debezium reads the erp database's changes only)
            cursor.execute("SET SESSION sql_log_bin = 0")
            for host in ("127.0.0.1", "localhost", "::1"):
                cursor.execute(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY %s", (password,))
                cursor.execute(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY %s", (password,))
                cursor.execute(f"GRANT {REPLICATION_GRANTS} ON *.* TO '{user}'@'{host}'")
                cursor.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'{host}'")
                for scratch in SCRATCH_DATABASES:
                    cursor.execute(f"GRANT ALL PRIVILEGES ON `{scratch}`.* TO '{user}'@'{host}'")
