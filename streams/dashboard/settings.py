"""Where the dashboard listens: 127.0.0.1 and ISTHMUS_DASHBOARD_PORT (default 18088)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from streams.dashboard.exceptions import BadDashboardPort

PORT_ENV = "ISTHMUS_DASHBOARD_PORT"
DEFAULT_PORT = 18088
DOCS: dict[str, str] = {PORT_ENV: f"loopback port of `isthmus dashboard` (default {DEFAULT_PORT})"}


def dashboard_port(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    raw = env.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise BadDashboardPort(f"{PORT_ENV}={raw!r} is not a port (1-65535); unset it to use {DEFAULT_PORT}")
    return int(raw)


def dashboard_address(env: Mapping[str, str] | None = None) -> str:
    """The dashboard's URL, as ``make demo`` prints it."""
    return f"http://127.0.0.1:{dashboard_port(env)}/"
