from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reference.common.config import AppConfig, EnvReader, read_app_config


@dataclass(frozen=True, kw_only=True)
class ErpConfig:
    app: AppConfig
    time_zone: ZoneInfo

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ErpConfig:
        reader = EnvReader(os.environ if env is None else env)
        app = read_app_config(reader, http_port=18002, db_port=13306, db_name="erp")
        zone_name = reader.text("REFERENCE_ERP_TIME_ZONE", "Asia/Shanghai")
        zone = ZoneInfo("UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            reader.problems.append(f"REFERENCE_ERP_TIME_ZONE={zone_name!r} is not an IANA time zone; "
                                   "use a name such as Asia/Shanghai or Europe/Berlin")
        reader.raise_problems("reference ERP")
        return cls(app=app, time_zone=zone)
