"""Helpers for the reference app tests: a CRM schema and an ERP database of a test's own on the stack's
servers (dropped at the end), and both apps served on free loopback ports over them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pymysql
from psycopg.rows import dict_row

from reference.common.server import ThreadedServer
from reference.crm.app import create_app as create_crm_app
from reference.crm.config import CrmConfig
from reference.erp.app import create_app as create_erp_app
from reference.erp.config import ErpConfig
from streams.stack.running import RunningStack


@dataclass(frozen=True, kw_only=True)
class Place:
    """Where one test's reference data lives: a CRM schema and an ERP database of its own."""

    stack: RunningStack
    crm_schema: str
    erp_database: str

    def crm_env(self) -> dict[str, str]:
        s = self.stack.settings
        return {
            "REFERENCE_DB_HOST": s.host,
            "REFERENCE_DB_PORT": str(s.crm_db_port),
            "REFERENCE_DB_USER": s.db_user,
            "REFERENCE_DB_PASSWORD": self.stack.secrets.crm_db_password.reveal(),
            "REFERENCE_DB_NAME": s.crm_db_name,
            "REFERENCE_DB_SCHEMA": self.crm_schema,
        }

    def erp_env(self, time_zone: str = "Asia/Shanghai") -> dict[str, str]:
        s = self.stack.settings
        return {
            "REFERENCE_DB_HOST": s.host,
            "REFERENCE_DB_PORT": str(s.erp_db_port),
            "REFERENCE_DB_USER": s.db_user,
            "REFERENCE_DB_PASSWORD": self.stack.secrets.erp_db_password.reveal(),
            "REFERENCE_DB_NAME": self.erp_database,
            "REFERENCE_ERP_TIME_ZONE": time_zone,
        }

    def crm(self) -> psycopg.Connection[dict[str, Any]]:
        """A connection in the CRM schema (autocommit: each query sees the latest committed state)."""
        return self.stack.connect_crm(
            options=f"-c search_path={self.crm_schema}", row_factory=dict_row, autocommit=True
        )

    def erp(self) -> Any:
        return self.stack.connect_erp(
            self.erp_database, autocommit=True, cursorclass=pymysql.cursors.DictCursor
        )

    def crm_rows(self, query: str, params: Any = ()) -> list[dict[str, Any]]:
        with self.crm() as conn:
            return conn.execute(query, params).fetchall()

    def erp_rows(self, query: str, params: Any = ()) -> list[dict[str, Any]]:
        conn = self.erp()
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return list(cur.fetchall())
        finally:
            conn.close()


@contextmanager
def isolated_place(stack: RunningStack, label: str) -> Iterator[Place]:
    suffix = f"{label}_{uuid.uuid4().hex[:10]}"
    place = Place(stack=stack, crm_schema=f"crm_{suffix}", erp_database=f"erp_{suffix}")
    try:
        yield place
    finally:
        with stack.connect_crm(autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {place.crm_schema} CASCADE")
        erp = stack.connect_erp(autocommit=True)
        try:
            with erp.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{place.erp_database}`")
        finally:
            erp.close()


@dataclass(frozen=True, kw_only=True)
class Apps:
    place: Place
    crm: httpx.Client
    erp: httpx.Client
    crm_url: str
    erp_url: str


@contextmanager
def running_apps(place: Place) -> Iterator[Apps]:
    crm_app = create_crm_app(CrmConfig.from_env(place.crm_env()))
    erp_app = create_erp_app(ErpConfig.from_env(place.erp_env()))
    with (
        ThreadedServer(crm_app) as crm_server,
        ThreadedServer(erp_app) as erp_server,
        httpx.Client(base_url=crm_server.url, timeout=30) as crm,
        httpx.Client(base_url=erp_server.url, timeout=30) as erp,
    ):
        try:
            yield Apps(place=place, crm=crm, erp=erp, crm_url=crm_server.url, erp_url=erp_server.url)
        finally:
            crm.delete("/_faults")
            erp.delete("/_faults")
    crm_app.state.transactions.pool.close()
    erp_app.state.transactions.pool.close()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


def digits(count: int = 12) -> int:
    return int(str(uuid.uuid4().int)[:count])


@dataclass(frozen=True, kw_only=True)
class ErpGoods:
    """An ERP product with stock in one warehouse, and an account that may order it."""

    sku: str
    warehouse: str
    account_id: int
