"""The CRM database: a PostgreSQL cluster of the stack's own, with ``wal_level=logical`` for Debezium.

PostgreSQL refuses to run as root, so when we are root it runs as the ``postgres`` user that Debian's
package creates. The superuser is reached only through a unix socket in the stack's run folder; the
application user ``isthmus`` (with REPLICATION, for Debezium, and CREATEDB, so a source system of your own gets
a database of its own, owned by that user, as the ``crm`` one is) logs in over loopback TCP with a password.

The server's settings live in its data directory (``isthmus.conf``, included from ``postgresql.conf``), not on
its command line, and the stack knows the server by its ``postmaster.pid``: a DBA's plain
``pg_ctl -D <data dir> restart`` brings it back as the stack runs it, and ``isthmus status | up | down`` follow it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from streams.stack.exceptions import PrerequisiteMissing, StackError
from streams.stack.process import LaunchSpec, ServerPidFile
from streams.stack.services.base import Service, chown_tree, port_open, run_as_service_user

DATABASES = ("crm", "warehouse")
#: The file in the data directory with the settings the stack runs PostgreSQL with, and the line that includes it.
SETTINGS_FILE = "isthmus.conf"
INCLUDE_SETTINGS = f"include = '{SETTINGS_FILE}'"


class CrmDatabase(Service):
    name = "crm-db"
    stop_signal = signal.SIGINT  # PostgreSQL's "fast" shutdown

    @property
    def address(self) -> str:
        return f"postgresql://{self.settings.host}:{self.settings.crm_db_port}/{self.settings.crm_db_name}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.crm_db_port,)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir / "crm-postgres"

    @property
    def socket_dir(self) -> Path:
        return self.settings.run_dir / "crm-postgres"

    def server_pid_file(self) -> ServerPidFile:
        return ServerPidFile(path=self.data_dir / "postmaster.pid", workdir=self.data_dir)

    def _user(self) -> str | None:
        return run_as_service_user("postgres")

    def prepare(self) -> None:
        user = self._user()
        if user is not None:
            _require_traversable(self.settings.home, user)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        chown_tree(self.socket_dir, user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(user)
        self.write_server_settings(user)

    def _initdb(self, user: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        chown_tree(self.data_dir, user)
        argv = [str(self.toolchain.pg_bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"]
        result = subprocess.run(argv, capture_output=True, text=True, user=user, check=False)
        if result.returncode != 0:
            raise StackError(f"initdb of the CRM database in {self.data_dir} failed:\n{result.stdout}{result.stderr}")
        self.ctx.progress.say(f"crm-db: initialised a PostgreSQL cluster in {self.data_dir}")

    def write_server_settings(self, user: str | None) -> None:
        """Written on every start, so a data directory made before gets them on its next one. ALTER SYSTEM
        (``postgresql.auto.conf``, read after ``postgresql.conf``) still overrides them."""
        lines = "".join(f"{key} = {_conf_value(value)}\n" for key, value in self._server_settings().items())
        settings_file = self.data_dir / SETTINGS_FILE
        settings_file.write_text("# Written by isthmus on every start of crm-db: the settings the stack runs this "
                                 "server with,\n# so that a plain `pg_ctl -D <this folder> start|restart` brings it "
                                 "back as the stack runs it.\n# Edit the stack's settings, not this file.\n" + lines)
        chown_tree(settings_file, user)
        main = self.data_dir / "postgresql.conf"
        text = main.read_text()
        if INCLUDE_SETTINGS not in text.splitlines():
            ending = "" if text.endswith("\n") else "\n"
            main.write_text(f"{text}{ending}# The local stack's settings, which isthmus writes on every start\n"
                            f"{INCLUDE_SETTINGS}\n")

    def _server_settings(self) -> dict[str, str | int | Path]:
        s = self.settings
        return {
            "listen_addresses": s.host,
            "port": s.crm_db_port,
            "unix_socket_directories": self.socket_dir,
            "wal_level": "logical",
            "max_wal_senders": 10,
            "max_replication_slots": 10,
            "shared_buffers": "128MB",
            "max_connections": 200,
            "timezone": "UTC",
            # A local reference stack: commits are written but not fsynced (a process crash loses nothing,
            # a machine crash could); logical decoding sees each commit as soon as it returns.
            "fsync": "off",
            "log_timezone": "UTC",
        }

    def launch(self) -> LaunchSpec:
        """The settings are in the data directory (:meth:`write_server_settings`, called by :meth:`prepare`)."""
        return LaunchSpec(argv=(str(self.toolchain.pg_bin / "postgres"), "-D", str(self.data_dir)), user=self._user())

    def superuser(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(host=str(self.socket_dir), port=self.settings.crm_db_port, user="postgres",
                               dbname=dbname, connect_timeout=3, autocommit=True)

    def is_healthy(self) -> bool:
        if not port_open(self.settings.host, self.settings.crm_db_port):
            return False
        try:
            with self.superuser() as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def bootstrap(self) -> None:
        user = self.settings.db_user
        password = self.ctx.secrets.crm_db_password.reveal()
        with self.superuser() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL("{} ROLE {} LOGIN REPLICATION CREATEDB PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(user), sql.Literal(password)))
            for dbname in DATABASES:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(user)))


def _conf_value(value: str | int | Path) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def _require_traversable(path: Path, user: str) -> None:
    """PostgreSQL runs as ``user``: every folder above its data must let that user through."""
    for parent in [path, *path.parents]:
        if parent.exists() and not os.stat(parent).st_mode & 0o001:
            raise PrerequisiteMissing(
                f"the CRM database runs as the '{user}' user, who cannot enter {parent} (no search permission "
                f"for others). Set ISTHMUS_HOME to a folder under a path others may traverse (e.g. /var/tmp/isthmus), "
                f"or `chmod o+x {parent}`.")
