"""Errors of the dashboard."""

from __future__ import annotations

from streams.config.exceptions import RuntimeConfigError
from streams.errors import IsthmusError


class DashboardError(IsthmusError):
    """The dashboard cannot start or answer."""


class BadDashboardPort(DashboardError, RuntimeConfigError):
    """ISTHMUS_DASHBOARD_PORT is not a port."""


class BadRequest(DashboardError):
    """A dashboard API request is malformed."""
