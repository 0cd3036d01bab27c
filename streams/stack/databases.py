"""Connections to the CRM and ERP databases of a stack, as the application user."""

from __future__ import annotations

from typing import Any

import psycopg
import pymysql

from streams.stack.secrets import StackSecrets
from streams.stack.settings import StackSettings


def crm_conninfo(settings: StackSettings, secrets: StackSecrets, dbname: str | None = None) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings.host,
        port=settings.crm_db_port,
        user=settings.db_user,
        password=secrets.crm_db_password.reveal(),
        dbname=dbname or settings.crm_db_name,
        connect_timeout=5,
    )


def connect_crm(settings: StackSettings, secrets: StackSecrets, dbname: str | None = None,
                **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(crm_conninfo(settings, secrets, dbname), **kwargs)


def connect_erp(settings: StackSettings, secrets: StackSecrets, database: str | None = None,
                **kwargs: Any) -> pymysql.connections.Connection[Any]:
    return pymysql.connect(
        host=settings.host,
        port=settings.erp_db_port,
        user=settings.db_user,
        password=secrets.erp_db_password.reveal(),
        database=database or settings.erp_db_name,
        connect_timeout=5,
        **kwargs,
    )
