"""A slow JSON-RPC target of its own for the sink's tests: a stdlib HTTP server whose few worker threads take
``latency`` seconds per call (a real Tryton answered in 0.1-0.4 s with a handful of threads), and that records
every record it creates, by code, so a test can say each command was applied exactly once.

Connections queue for a worker thread after the server accepted them, as behind a real server's accept loop: a
sink with more connections than the server has threads sees slow answers, not refused connections. Each answer
closes its connection (HTTP/1.0), so the sink's pool opens connections all the time, as against a server that
does not keep connections alive.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from socket import socket
from types import TracebackType
from typing import Any


class SlowRpcServer(HTTPServer):
    """``model.party.party.search`` and ``.create`` of a party table, ``threads`` calls at a time."""

    def __init__(self, *, latency: float, threads: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.created: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._workers = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="slow-rpc")
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/rpc/"

    def process_request(self, request: Any, client_address: Any) -> None:
        self._workers.submit(self._serve, request, client_address)

    def _serve(self, request: socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # a client that gave up and closed: nothing to answer
            pass
        finally:
            self.shutdown_request(request)

    def answer(self, method: str, params: list[Any]) -> Any:
        time.sleep(self.latency)
        with self.lock:
            self.calls[method] += 1
            if method == "model.party.party.search":
                code = params[0][0][2]
                return [self._ids[code]] if code in self._ids else []
            if method == "model.party.party.create":
                code = params[0][0]["code"]
                self.created[code] += 1
                self._ids.setdefault(code, len(self._ids) + 1)
                return [self._ids[code]]
        raise ValueError(f"no method {method}")

    _ids: dict[str, int]

    def __enter__(self) -> SlowRpcServer:
        self._ids = {}
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.shutdown()
        self._workers.shutdown(wait=False, cancel_futures=True)
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: SlowRpcServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            reply = {"id": body["id"], "result": self.server.answer(body["method"], body["params"])}
        except ValueError as exc:
            reply = {"id": body["id"], "error": ["UserError", [str(exc)]]}
        content = json.dumps(reply).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
        except OSError:  # the client timed out and closed before the answer
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass
