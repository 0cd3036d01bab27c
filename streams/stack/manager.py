"""`isthmus up | down | status`: the local stack's services started in dependency order, checked, stopped.

Starting is idempotent: a service already running and healthy is reported and left alone. Services
whose dependencies are met start together, then the manager waits for each to answer its health check.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from streams.stack.exceptions import ServiceStartError, StackConfigError
from streams.stack.jars import ensure_jars
from streams.stack.prerequisites import find_toolchain
from streams.stack.progress import Progress
from streams.stack.running import RunningStack
from streams.stack.secrets import load_or_create
from streams.stack.services import OPTIONAL_SERVICE_TYPES, SERVICE_TYPES, Service, ServiceContext, every_service
from streams.stack.services.base import port_open
from streams.stack.settings import SETTINGS, StackSettings

JAVA_SERVICES = frozenset({"kafka", "connect"})
NOT_STARTED = "not started"


@dataclass(frozen=True, kw_only=True)
class ServiceStatus:
    name: str
    #: "running", "unhealthy", "stopped", or "not started": never started in this stack home (no log), as after an
    #: ``isthmus up`` of some services; status does not judge a service not started.
    state: str
    pid: int | None
    address: str
    log: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class StackManager:
    def __init__(self, settings: StackSettings, progress: Progress | None = None) -> None:
        self.settings = settings
        self.progress = progress or Progress()
        self.secrets = load_or_create(settings.home)

    def _services(self, with_toolchain: bool) -> list[Service]:
        ctx = ServiceContext(settings=self.settings, secrets=self.secrets,
                             toolchain=find_toolchain() if with_toolchain else None, progress=self.progress)
        return every_service(ctx)

    def running(self) -> RunningStack:
        return RunningStack(self.settings, self.secrets)

    def up(self, names: Iterable[str] | None = None) -> bool:
        """Start what is not running; True if anything was started."""
        services = self._services(with_toolchain=True)
        selected = _with_dependencies(services, names)
        if JAVA_SERVICES & {s.name for s in selected}:
            ensure_jars(self.settings.jars_dir, services[0].toolchain.mvn, self.progress)
        started_any = False
        done: set[str] = set()
        remaining = list(selected)
        while remaining:
            wave = [s for s in remaining if set(s.depends_on) <= done]
            starting: list[tuple[Service, float]] = []
            for service in wave:
                if service.process.pid() is not None:
                    if service.is_healthy():
                        self.progress.say(f"{service.name}: already running (pid {service.process.pid()}) "
                                          f"at {service.address}")
                        service.bootstrap()
                        continue
                else:
                    self._refuse_taken_ports(service)
                    service.prepare()
                    pid = service.process.start(service.launch())
                    started_any = True
                    self.progress.say(f"{service.name}: started (pid {pid}), waiting until it answers "
                                      f"(up to {service.start_seconds:.0f}s)")
                starting.append((service, time.monotonic()))
            for service, began in starting:
                self._wait_healthy(service, began)
                service.bootstrap()
                self.progress.say(f"{service.name}: healthy at {service.address} ({time.monotonic() - began:.1f}s)")
            done |= {s.name for s in wave}
            remaining = [s for s in remaining if s.name not in done]
        return started_any

    def _refuse_taken_ports(self, service: Service) -> None:
        taken = [port for port in service.ports if port_open(self.settings.host, port)]
        if taken:
            raise StackConfigError(
                f"{service.name} cannot start: port {', '.join(map(str, taken))} on {self.settings.host} is used by "
                "another process. Stop it, or give the service another port (see `isthmus status --settings`).")

    def _wait_healthy(self, service: Service, began: float) -> None:
        pid = service.process.pid()
        limit = service.start_seconds
        while time.monotonic() - began < limit:
            if service.is_healthy():
                return
            if pid is None or service.process.exited(pid):
                raise ServiceStartError(f"{service.name} exited during start; its log "
                                        f"{service.process.log_path} says:\n{service.process.start_failure()}")
            time.sleep(0.5)
        raise ServiceStartError(
            f"{service.name} did not answer within {limit:.0f}s; it may still be starting (pid {pid}, its log "
            f"{service.process.log_path}). Run `isthmus up` again: it finds {service.name} running and "
            f"waits for it again; or raise {SETTINGS['start_timeout_s'].env} (seconds, now {limit:.0f}) on a slow "
            f"or loaded machine. Last lines of its log:\n{service.process.log_tail()}")

    def down(self, names: Iterable[str] | None = None) -> list[tuple[str, float | None]]:
        """Stop services in reverse dependency order; each with seconds taken, None if it was not running."""
        services = self._services(with_toolchain=False)
        wanted = set(names) if names else {s.name for s in services}
        _check_names(wanted)
        results: list[tuple[str, float | None]] = []
        for service in reversed(services):
            if service.name not in wanted:
                continue
            taken = service.process.stop(service.stop_signal, service.stop_timeout)
            results.append((service.name, taken))
            if taken is None:
                self.progress.say(f"{service.name}: not running")
            else:
                self.progress.say(f"{service.name}: stopped ({taken:.1f}s)")
        return results

    def restart(self, name: str) -> None:
        self.down([name])
        self.up([name])

    def status(self) -> list[ServiceStatus]:
        result = []
        for service in self._services(with_toolchain=False):
            pid = service.process.pid()
            if service.optional and pid is None:
                continue
            state = ("running" if service.is_healthy() else "unhealthy") if pid is not None \
                else "stopped" if service.process.log_path.exists() else NOT_STARTED
            result.append(ServiceStatus(name=service.name, state=state, pid=pid, address=service.address,
                                        log=str(service.process.log_path)))
        return result


def _check_names(names: set[str]) -> None:
    known = {t.name for t in (*SERVICE_TYPES, *OPTIONAL_SERVICE_TYPES)}
    unknown = names - known
    if unknown:
        raise StackConfigError(f"unknown service {', '.join(sorted(unknown))}; services: {', '.join(sorted(known))}")


def _with_dependencies(services: list[Service], names: Iterable[str] | None) -> list[Service]:
    if names is None:
        return [s for s in services if not s.optional]
    wanted = set(names)
    _check_names(wanted)
    by_name = {s.name: s for s in services}
    frontier = list(wanted)
    while frontier:
        for dependency in by_name[frontier.pop()].depends_on:
            if dependency not in wanted:
                wanted.add(dependency)
                frontier.append(dependency)
    return [s for s in services if s.name in wanted]
