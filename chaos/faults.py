"""The fault injectors: each takes a planned fault and does it to the running system."""

from __future__ import annotations

import time
from collections import Counter

import httpx

from chaos.backends import Backend
from chaos.processes import Fleet
from chaos.schedule import PlannedFault


class Injector:
    def __init__(self, *, backend: Backend, fleet: Fleet, outage_s: float, throttle_count: int,
                 throttle_retry_after: int, broker_pause_s: float = 20.0) -> None:
        self.backend = backend
        self.broker_pause_s = broker_pause_s
        self.fleet = fleet
        self.outage_s = outage_s
        self.throttle_count = throttle_count
        self.throttle_retry_after = throttle_retry_after
        self.injected: Counter[str] = Counter()
        self.outages_end = 0.0

    def _api(self, target: str) -> str:
        settings = self.backend.manager.settings
        return settings.crm_api_url if target == "crm" else settings.erp_api_url

    def inject(self, fault: PlannedFault) -> str:
        """Do ``fault``; a line saying what was done."""
        began = time.monotonic()
        kind, target = fault.kind, fault.target or ""
        if kind == "kill-worker":
            self.fleet.kill("worker")
        elif kind == "kill-sink":
            self.fleet.kill(f"sink-{target}")
        elif kind == "restart-connect":
            self.backend.restart_connect()
        elif kind == "restart-kafka":
            self.backend.restart_kafka()
        elif kind == "kill-broker":
            target = self.backend.kill_broker(self.broker_pause_s)
        elif kind == "outage":
            self._fault(target, {"mode": "outage", "seconds": self.outage_s})
            self.outages_end = max(self.outages_end, time.monotonic() + self.outage_s)
        elif kind == "throttle":
            self._fault(target, {"mode": "throttle", "retry_after": self.throttle_retry_after,
                                 "count": self.throttle_count})
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        self.injected[kind] += 1
        label = f"{kind}:{target}" if kind == "kill-broker" else fault.label()
        return f"{label} done in {time.monotonic() - began:.1f}s"

    def _fault(self, target: str, plan: dict[str, object]) -> None:
        answer = httpx.post(f"{self._api(target)}/_faults", json=plan, timeout=10)
        answer.raise_for_status()

    def clear(self) -> None:
        for target in ("crm", "erp"):
            httpx.delete(f"{self._api(target)}/_faults", timeout=10)
