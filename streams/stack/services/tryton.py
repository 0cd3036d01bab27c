"""Tryton (trytond from PyPI), a real open-source ERP: the optional service ``tryton`` of the local stack.

``isthmus up tryton`` installs it into its own virtual environment (streams/stack/tryton_venv.py), creates its
database ``tryton`` in the CRM's PostgreSQL cluster (owned by the application user, ``wal_level=logical``
already on, so Debezium can capture it), initialises that database once with ``trytond-admin`` (the ``party``
module activated, the ``admin`` user's password from the stack's secrets file), and runs ``trytond`` bound to
loopback. It answers JSON-RPC on ``http://<host>:<ISTHMUS_TRYTON_PORT>/tryton/rpc/``. Plain ``isthmus up`` leaves
it out: it is the proof of ``examples/tryton/``, not part of the reference pair.

The database password reaches Tryton through the environment (``TRYTOND_DATABASE__URI``), never a file; the
admin password through a 0600 file named by ``TRYTONPASSFILE`` that lives only while ``trytond-admin`` runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
from psycopg import sql

from streams.stack.exceptions import StackError
from streams.stack.process import LaunchSpec
from streams.stack.services.base import Service, port_open
from streams.stack.services.crm_db import CrmDatabase
from streams.stack.tryton_venv import ensure_tryton_venv, tryton_venv

#: Tryton modules activated in the database (and their dependencies: country, ir, res).
MODULES = ("party",)
ADMIN_LOGIN = "admin"


class TrytonServer(Service):
    name = "tryton"
    depends_on = ("crm-db",)
    optional = True
    # The first start installs Tryton and initialises its database: minutes on a slow machine.
    start_timeout = 60.0

    @property
    def address(self) -> str:
        return f"{self.settings.tryton_url}/{self.settings.tryton_db_name}/rpc/"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.tryton_port,)

    @property
    def config_path(self) -> Path:
        return self.ctx.conf_dir / "trytond.conf"

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir / "tryton"

    def _env(self) -> dict[str, str]:
        s = self.settings
        password = quote(self.ctx.secrets.crm_db_password.reveal(), safe="")
        return {
            "TRYTOND_DATABASE__URI": f"postgresql://{quote(s.db_user, safe='')}:{password}@{s.host}:{s.crm_db_port}/",
            "TRYTOND_CONFIG": str(self.config_path),
        }

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "# Written by isthmus on every start of the `tryton` service; edit the stack settings, not this file.\n"
            "# The database URI (with its password) comes from the environment: TRYTOND_DATABASE__URI.\n"
            "[web]\n"
            f"listen = {self.settings.host}:{self.settings.tryton_port}\n"
            f"root = {self.data_dir / 'www'}\n"
            "[database]\n"
            f"path = {self.data_dir / 'files'}\n"
            "list = False\n"
        )

    def _create_database(self) -> None:
        user, dbname = self.settings.db_user, self.settings.tryton_db_name
        with CrmDatabase(self.ctx).superuser() as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(user)))
                self.ctx.progress.say(f"tryton: created database {dbname} owned by {user}")

    def _initialised(self) -> bool:
        """True when every module of MODULES is activated in the database."""
        try:
            with CrmDatabase(self.ctx).superuser(self.settings.tryton_db_name) as conn:
                rows = conn.execute("SELECT name FROM ir_module WHERE state = 'activated' AND name = ANY(%s)",
                                    (list(MODULES),)).fetchall()
        except psycopg.errors.UndefinedTable:
            return False
        return {row[0] for row in rows} == set(MODULES)

    def _initialise(self, venv: Path) -> None:
        self.ctx.progress.say(f"tryton: initialising database {self.settings.tryton_db_name} with "
                              f"{', '.join(MODULES)} (trytond-admin, a minute or two)")
        passfile = self.settings.home / "secrets" / "tryton-admin.pass"
        passfile.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(self.ctx.secrets.tryton_admin_password.reveal() + "\n")
        log_path = self.settings.logs_dir / "tryton-admin.log"
        argv = [str(venv / "bin" / "trytond-admin"), "-c", str(self.config_path), "-d", self.settings.tryton_db_name,
                "--all", "-u", *MODULES, "--activate-dependencies", "--email", f"{ADMIN_LOGIN}@isthmus.invalid"]
        try:
            with open(log_path, "w") as log:
                code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      env={**os.environ, **self._env(), "TRYTONPASSFILE": str(passfile)},
                                      check=False).returncode
        finally:
            passfile.unlink(missing_ok=True)
        if code != 0:
            raise StackError(f"trytond-admin could not initialise the database {self.settings.tryton_db_name} (exit "
                             f"{code}); see {log_path}")

    def prepare(self) -> None:
        venv = ensure_tryton_venv(self.ctx.progress)
        self._write_config()
        self._create_database()
        if not self._initialised():
            self._initialise(venv)

    def launch(self) -> LaunchSpec:
        self._write_config()
        # `-d` loads the database's modules at start; a pool first asked for by a login stays empty in 8.2.
        argv = (str(tryton_venv() / "bin" / "trytond"), "-c", str(self.config_path), "-d", self.settings.tryton_db_name)
        return LaunchSpec(argv=argv, env=self._env())

    def is_healthy(self) -> bool:
        """Its JSON-RPC answers: the server's version, a call that needs no session."""
        if not port_open(self.settings.host, self.settings.tryton_port):
            return False
        try:
            answer = httpx.post(f"{self.settings.tryton_url}/rpc/", timeout=3,
                                json={"id": 0, "method": "common.server.version", "params": []})
            return answer.status_code == 200 and "result" in answer.json()
        except (httpx.HTTPError, ValueError):
            return False
