"""A small Kafka Connect REST client: one method per endpoint Isthmus uses, one exception per failure.

A 409 from Connect means a rebalance or another config change is in flight; it is retried with backoff
for ``conflict_retry_for`` seconds before :class:`ConnectConflict` is raised.
"""

from __future__ import annotations

import re
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from streams.capture.exceptions import (
    ConnectConfigRejected,
    ConnectConflict,
    ConnectError,
    ConnectorNotFound,
    ConnectRefused,
    ConnectTimeout,
    ConnectUnreachable,
)
from streams.config.connect import ConnectSettings
from streams.errors import exception_text

RUNNING = "RUNNING"
FAILED = "FAILED"
PAUSED = "PAUSED"
STOPPED = "STOPPED"

_INVALID = re.compile(r"configuration is invalid|ConfigValueInfo|ConfigInfo")


def root_cause(trace: str | None) -> str:
    """What a Java stack trace (a failed task's, as Connect reports it) says went wrong: its last ``Caused by:``
    line without those words (the root cause: Debezium's first line is a generic wrapper, "An exception occurred
    in the change event producer"), else its first line; ``(no trace)`` when there is none."""
    lines = [line.strip() for line in (trace or "").splitlines() if line.strip()]
    causes = [line.removeprefix("Caused by:").strip() for line in lines if line.startswith("Caused by:")]
    return causes[-1] if causes else lines[0] if lines else "(no trace)"


@dataclass(frozen=True, kw_only=True)
class TaskState:
    id: int
    state: str
    worker_id: str
    trace: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConnectorState:
    name: str
    type: str
    state: str
    worker_id: str
    tasks: tuple[TaskState, ...]
    trace: str | None = None

    @property
    def running(self) -> bool:
        """The connector and every task run (a connector with no task yet is not running)."""
        return self.state == RUNNING and bool(self.tasks) and all(t.state == RUNNING for t in self.tasks)

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(what, trace)`` for the connector and each task that is FAILED."""
        found = [("connector", self.trace or "(no trace)")] if self.state == FAILED else []
        found += [(f"task {t.id}", t.trace or "(no trace)") for t in self.tasks if t.state == FAILED]
        return found

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ConnectorState:
        connector = document.get("connector", {})
        return cls(
            name=str(document.get("name", "")),
            type=str(document.get("type", "")),
            state=str(connector.get("state", "UNKNOWN")),
            worker_id=str(connector.get("worker_id", "")),
            trace=connector.get("trace"),
            tasks=tuple(
                TaskState(id=int(t["id"]), state=str(t.get("state", "UNKNOWN")),
                          worker_id=str(t.get("worker_id", "")), trace=t.get("trace"))
                for t in sorted(document.get("tasks", []), key=lambda t: int(t["id"]))
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "state": self.state, "worker_id": self.worker_id,
            "trace": self.trace,
            "tasks": [{"id": t.id, "state": t.state, "worker_id": t.worker_id, "trace": t.trace}
                      for t in self.tasks],
        }


@dataclass(frozen=True, kw_only=True)
class FieldError:
    """One option Connect's own validation found fault with."""

    key: str
    value: str | None
    errors: tuple[str, ...]
    allowed: tuple[str, ...] = ()


class ConnectClient:
    def __init__(self, url: str, *, timeout: float = 30.0, validate_timeout: float = 90.0,
                 conflict_retry_for: float = 30.0, transport: httpx.BaseTransport | None = None,
                 auth: tuple[str, str] | None = None, verify: ssl.SSLContext | bool = True) -> None:
        self.url = url.rstrip("/")
        self._validate_timeout = validate_timeout
        self._conflict_retry_for = conflict_retry_for
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport, auth=auth, verify=verify,
                                  headers={"Accept": "application/json"})

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"ConnectClient(url={self.url!r})"

    # -- the cluster -------------------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self._request("GET", "/").json()
        return info

    def plugins(self) -> list[str]:
        return [str(p["class"]) for p in self._request("GET", "/connector-plugins").json()]

    def plugin_options(self, connector_class: str) -> dict[str, str]:
        """Every option the plugin declares, with its Connect type (``INT``, ``BOOLEAN``, ``PASSWORD``...)."""
        answer = self._request("GET", f"/connector-plugins/{_seg(connector_class)}/config",
                               missing=f"Kafka Connect at {self.url} has no plugin {connector_class!r}")
        return {str(o["name"]): str(o["type"]) for o in answer.json()}

    def validate(self, connector_class: str, config: dict[str, str]) -> list[FieldError]:
        answer = self._request(
            "PUT", f"/connector-plugins/{_seg(connector_class)}/config/validate", json=config,
            timeout=self._validate_timeout,
            missing=f"Kafka Connect at {self.url} has no plugin {connector_class!r}; "
                    f"installed: {', '.join(self.plugins())}")
        found = []
        for entry in answer.json().get("configs", []):
            value = entry.get("value") or {}
            if value.get("errors"):
                found.append(FieldError(key=str(value["name"]), value=value.get("value"),
                                        errors=tuple(str(e) for e in value["errors"]),
                                        allowed=tuple(str(v) for v in value.get("recommended_values") or ())))
        return found

    # -- connectors --------------------------------------------------------------------------------

    def connectors(self) -> list[str]:
        return sorted(str(n) for n in self._request("GET", "/connectors").json())

    def get_config(self, name: str) -> dict[str, str]:
        config: dict[str, str] = self._request("GET", f"/connectors/{_seg(name)}/config",
                                               missing=self._no_connector(name)).json()
        return config

    def find_config(self, name: str) -> dict[str, str] | None:
        """The deployed config, or ``None`` when no connector has that name."""
        try:
            return self.get_config(name)
        except ConnectorNotFound:
            return None

    def put_config(self, name: str, config: dict[str, str]) -> bool:
        """Create or update a connector; ``True`` when it was created."""
        answer = self._request("PUT", f"/connectors/{_seg(name)}/config", json=config,
                               timeout=self._validate_timeout,
                               invalid=f"`isthmus connectors validate {name}` names the keys at fault")
        return answer.status_code == 201

    def status(self, name: str) -> ConnectorState:
        document = self._request("GET", f"/connectors/{_seg(name)}/status",
                                 missing=self._no_connector(name)).json()
        return ConnectorState.from_json(document)

    def restart(self, name: str, *, only_failed: bool = False) -> None:
        self._request("POST", f"/connectors/{_seg(name)}/restart",
                      params={"includeTasks": "true", "onlyFailed": "true" if only_failed else "false"},
                      missing=self._no_connector(name))

    def pause(self, name: str) -> None:
        self._request("PUT", f"/connectors/{_seg(name)}/pause", missing=self._no_connector(name))

    def resume(self, name: str) -> None:
        self._request("PUT", f"/connectors/{_seg(name)}/resume", missing=self._no_connector(name))

    def stop(self, name: str) -> None:
        self._request("PUT", f"/connectors/{_seg(name)}/stop", missing=self._no_connector(name))

    def delete(self, name: str) -> None:
        self._request("DELETE", f"/connectors/{_seg(name)}", missing=self._no_connector(name))

    def offsets(self, name: str) -> list[dict[str, Any]]:
        """``[{"partition": {...}, "offset": {...}}]`` as Connect stores them (Kafka 3.6+)."""
        document = self._request("GET", f"/connectors/{_seg(name)}/offsets",
                                 missing=self._no_connector(name)).json()
        offsets: list[dict[str, Any]] = document.get("offsets", [])
        return offsets

    def delete_offsets(self, name: str) -> str:
        """Reset a STOPPED connector's offsets; returns Connect's message."""
        answer = self._request("DELETE", f"/connectors/{_seg(name)}/offsets",
                               missing=self._no_connector(name))
        return str(answer.json().get("message", "")) if answer.content else ""

    # -- plumbing ----------------------------------------------------------------------------------

    def _no_connector(self, name: str) -> str:
        return (f"Kafka Connect at {self.url} has no connector {name!r}; "
                "`isthmus connectors status` lists the deployed ones, `isthmus connectors deploy` creates it")

    def _unreachable(self, exc: httpx.TransportError) -> str:
        """Why Connect did not answer, and the settings to check: its TLS (a certificate not trusted, a client
        certificate refused), else its address."""
        text = exception_text(exc)
        if _tls_failure(exc):
            return (f"TLS with Kafka Connect at {self.url} failed ({text}); check {_env('ssl_cafile')} (the CA that "
                    f"signed Connect's certificate; default: the system's), and {_env('ssl_certfile')} / "
                    f"{_env('ssl_keyfile')} when Connect asks for a client certificate")
        return (f"Kafka Connect is not reachable at {self.url} ({text}); check that it runs there and "
                f"{_env('urls')} (or --connect-url); the local stack's starts with `isthmus up`")

    def _refused(self, status: int, where: str, message: str) -> str:
        if status == 403:
            return (f"Kafka Connect at {self.url} forbids {where} to its user (403: {message}); grant it, or set "
                    f"{_env('username')} to a user that may")
        if self._http.auth is None:
            return (f"Kafka Connect at {self.url} asks for a login (401 to {where}); set {_env('username')} and "
                    f"{_env('password_file')} (or {_env('password')})")
        return (f"Kafka Connect at {self.url} refused the login (401 to {where}: {message}); check "
                f"{_env('username')} and {_env('password_file')} (or {_env('password')})")

    def _request(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
                 timeout: float | None = None, missing: str | None = None,
                 invalid: str | None = None) -> httpx.Response:
        """One request; ``missing`` is the message for a 404, ``invalid`` the fix for a refused config."""
        deadline = time.monotonic() + self._conflict_retry_for
        pause = 0.25
        while True:
            try:
                answer = self._http.request(
                    method, path, json=json, params=params,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
            except httpx.TimeoutException as exc:
                raise ConnectTimeout(f"Kafka Connect at {self.url} did not answer {method} {path} in time "
                                     f"({exc.__class__.__name__}); check its log, or retry") from exc
            except httpx.TransportError as exc:
                raise ConnectUnreachable(self._unreachable(exc)) from exc
            if answer.status_code != 409 or time.monotonic() >= deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
        if answer.is_success:
            return answer
        message = _message(answer)
        where = f"{method} {path}"
        if answer.status_code in (401, 403):
            raise ConnectRefused(self._refused(answer.status_code, where, message))
        if answer.status_code == 404 and path in _ALWAYS_THERE:
            raise ConnectUnreachable(
                f"Kafka Connect at {self.url} answered 404 to {where}, which a Connect that has started always has: "
                "it is still starting (its REST server answers before its workers are ready), or that address is no "
                "Kafka Connect; fix: wait until `isthmus status` shows its connectors and retry, or check "
                f"{_env('urls')}")
        if answer.status_code == 404:
            raise ConnectorNotFound(missing or f"Kafka Connect at {self.url} has nothing at {where}: "
                                               f"{message}")
        if answer.status_code == 409:
            raise ConnectConflict(f"Kafka Connect at {self.url} is rebalancing or applying another change "
                                  f"and still was after {self._conflict_retry_for:.0f}s "
                                  f"({where}: {message}); retry in a moment")
        if answer.status_code == 400 or (invalid and answer.status_code == 500 and _INVALID.search(message)):
            # Connect 4.3 answers some invalid configs on PUT with a NullPointerException from its
            # validation code instead of the list of errors; that is still a refused config.
            raise ConnectConfigRejected(f"Kafka Connect refused {where}: {message}; fix: "
                                        f"{invalid or 'correct the request'}")
        raise ConnectError(f"Kafka Connect answered {answer.status_code} to {where}: {message}")


#: Paths every running Kafka Connect answers: a 404 there is a Connect still starting (or no Connect at all).
_ALWAYS_THERE = frozenset({"/connector-plugins", "/connectors"})


def _env(field: str) -> str:
    """The variable of a Connect setting (``ISTHMUS_CONNECT_SSL_CAFILE``), and its ``--config`` file key."""
    return f"{ConnectSettings.env_name(field)} ({ConnectSettings.NAME}.{field})"


def _tls_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is a TLS handshake failure."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _seg(value: str) -> str:
    return quote(value, safe="")


def _message(answer: httpx.Response) -> str:
    try:
        document = answer.json()
    except ValueError:
        return answer.text.strip()[:500] or answer.reason_phrase
    if isinstance(document, dict) and "message" in document:
        return str(document["message"])
    return str(document)[:500]
