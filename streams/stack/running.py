"""What a caller holds on a running stack: its settings and secrets, and connections derived from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pymysql

from streams.stack import databases
from streams.stack.secrets import StackSecrets
from streams.stack.settings import StackSettings


@dataclass(frozen=True)
class RunningStack:
    settings: StackSettings
    secrets: StackSecrets

    def connect_crm(self, dbname: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        return databases.connect_crm(self.settings, self.secrets, dbname, **kwargs)

    def connect_erp(self, database: str | None = None, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        return databases.connect_erp(self.settings, self.secrets, database, **kwargs)
