"""The reference CRM and ERP HTTP APIs (package ``reference``), each over its own database."""

from __future__ import annotations

import sys

import httpx

from streams.stack.process import LaunchSpec
from streams.stack.services.base import Service, port_open


class _ReferenceApi(Service):
    module: str
    db_service: str

    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def address(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def _db_env(self) -> dict[str, str]:
        raise NotImplementedError

    def launch(self) -> LaunchSpec:
        env = {
            "REFERENCE_HTTP_HOST": self.settings.host,
            "REFERENCE_HTTP_PORT": str(self.port),
            "REFERENCE_DB_HOST": self.settings.host,
            "REFERENCE_DB_USER": self.settings.db_user,
            **self._db_env(),
        }
        return LaunchSpec(argv=(sys.executable, "-m", self.module), env=env)

    def is_healthy(self) -> bool:
        if not port_open(self.settings.host, self.port):
            return False
        try:
            return httpx.get(f"{self.address}/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False


class CrmApi(_ReferenceApi):
    name = "crm-api"
    module = "reference.crm"
    depends_on = ("crm-db",)

    @property
    def port(self) -> int:
        return self.settings.crm_api_port

    def _db_env(self) -> dict[str, str]:
        return {
            "REFERENCE_DB_PORT": str(self.settings.crm_db_port),
            "REFERENCE_DB_NAME": self.settings.crm_db_name,
            "REFERENCE_DB_PASSWORD": self.ctx.secrets.crm_db_password.reveal(),
        }


class ErpApi(_ReferenceApi):
    name = "erp-api"
    module = "reference.erp"
    depends_on = ("erp-db",)

    @property
    def port(self) -> int:
        return self.settings.erp_api_port

    def _db_env(self) -> dict[str, str]:
        return {
            "REFERENCE_DB_PORT": str(self.settings.erp_db_port),
            "REFERENCE_DB_NAME": self.settings.erp_db_name,
            "REFERENCE_DB_PASSWORD": self.ctx.secrets.erp_db_password.reveal(),
            "REFERENCE_ERP_TIME_ZONE": self.settings.erp_time_zone,
        }
