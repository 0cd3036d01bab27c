"""Kafka Connect behind HTTPS and basic auth, as a new user ran it: every REST caller uses the configured TLS and
login, a failure says what failed (TLS, 401) and which setting to check, and an encrypted client key has a
password setting (it gave ``OSError: [Errno 22] Invalid argument``: OpenSSL asked a terminal for it)."""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from streams.capture.client import ConnectClient
from streams.capture.exceptions import ConnectRefused, ConnectUnreachable
from streams.codecs.avro.single_object import SchemaStore
from streams.config.connect import ConnectSettings
from streams.config.exceptions import RuntimeConfigError
from streams.dashboard import sources
from streams.dashboard.app import DashboardConfig, Sampler
from streams.inspect.masking import PiiCatalog
from streams.inspect.roles import AccessPolicy

pytestmark = [pytest.mark.unit,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="makes its certificates with openssl")]

USER, PASSWORD, KEY_PASSWORD = "isthmus", "c0nnect-pw", "k3y-pw"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], capture_output=True, check=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed server certificate for 127.0.0.1 (its own CA), and a client key encrypted with a password."""
    folder = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(folder / "server.key"), "-out", str(folder / "server.crt"))
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-days", "1",
             "-subj", "/CN=isthmus", "-passout", f"pass:{KEY_PASSWORD}",
             "-keyout", str(folder / "client.key"), "-out", str(folder / "client.crt"))
    (folder / "key-password").write_text(KEY_PASSWORD + "\n", encoding="utf-8")
    (folder / "connect-password").write_text(PASSWORD + "\n", encoding="utf-8")
    return folder


class _Connect(BaseHTTPRequestHandler):
    """Connect's REST API as far as listing connectors, behind basic auth."""

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._answer(401, b'{"error_code":401,"message":"User cannot access the resource."}')
        else:
            self._answer(200, b"[]")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def connect_url(pki: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Connect)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _settings(url: str, **more: str) -> ConnectSettings:
    return ConnectSettings.from_env({"ISTHMUS_CONNECT_URLS": url, **more})


def test_an_untrusted_certificate_says_tls_failed_and_names_the_ca_setting(connect_url: str) -> None:
    with ConnectClient(connect_url, timeout=5) as client, pytest.raises(ConnectUnreachable) as raised:
        client.connectors()
    said = str(raised.value)
    assert said.startswith(f"TLS with Kafka Connect at {connect_url} failed (")
    assert "CERTIFICATE_VERIFY_FAILED" in said and "ISTHMUS_CONNECT_SSL_CAFILE (connect.ssl_cafile)" in said
    assert "isthmus up`, or pass --connect-url" not in said


def test_a_missing_or_wrong_login_names_the_login_settings(connect_url: str, pki: Path) -> None:
    trusted = _settings(connect_url, ISTHMUS_CONNECT_SSL_CAFILE=str(pki / "server.crt"))
    with ConnectClient(connect_url, **trusted.http_options()) as client, pytest.raises(ConnectRefused) as raised:
        client.connectors()
    assert "asks for a login (401 to GET /connectors); set ISTHMUS_CONNECT_USERNAME" in str(raised.value)
    wrong = _settings(connect_url, ISTHMUS_CONNECT_SSL_CAFILE=str(pki / "server.crt"),
                      ISTHMUS_CONNECT_USERNAME=USER, ISTHMUS_CONNECT_PASSWORD="not-it")
    with ConnectClient(connect_url, **wrong.http_options()) as client, pytest.raises(ConnectRefused) as raised:
        client.connectors()
    assert "refused the login (401 to GET /connectors: User cannot access the resource.)" in str(raised.value)
    assert "ISTHMUS_CONNECT_PASSWORD_FILE (connect.password_file)" in str(raised.value)
    assert "not-it" not in str(raised.value)


def test_the_dashboard_reads_connectors_with_the_configured_tls_and_login(
        connect_url: str, pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard called Connect with its URL alone: "not reachable ... start the stack with isthmus up"."""
    settings = _settings(connect_url, ISTHMUS_CONNECT_SSL_CAFILE=str(pki / "server.crt"),
                         ISTHMUS_CONNECT_USERNAME=USER, ISTHMUS_CONNECT_PASSWORD_FILE=str(pki / "connect-password"))
    answers: list[tuple[list[dict[str, Any]], str | None]] = []
    read = sources.connectors

    def connectors(url: str, **http_options: Any) -> tuple[list[dict[str, Any]], str | None]:
        answers.append(read(url, **http_options))
        return answers[-1]

    class Sampled(Exception):
        pass

    def counts(bootstrap: object) -> None:
        raise Sampled  # Connect was read first: the rest of the sample reads Kafka, which this test has none of

    monkeypatch.setattr(sources, "connectors", connectors)
    monkeypatch.setattr(sources, "counts", counts)
    config = DashboardConfig(bootstrap="127.0.0.1:9", connect_url=settings.urls[0], policy=AccessPolicy(),
                             connect_http=settings.http_options())
    store = SchemaStore.from_directory()
    sampler = Sampler(config=config, store=store, catalog=PiiCatalog.load(store.schemas, mappings={}))
    with pytest.raises(Sampled):
        asyncio.run(sampler.sample())
    assert answers == [([], None)]


def test_an_encrypted_client_key_opens_with_its_password_file(connect_url: str, pki: Path) -> None:
    pair = {"ISTHMUS_CONNECT_SSL_CERTFILE": str(pki / "client.crt"),
            "ISTHMUS_CONNECT_SSL_KEYFILE": str(pki / "client.key")}
    with pytest.raises(RuntimeConfigError, match=r"cannot load the client key ISTHMUS_CONNECT_SSL_KEYFILE .*: the key "
                       r"is encrypted: set its password in ISTHMUS_CONNECT_SSL_KEY_PASSWORD_FILE"):
        _settings(connect_url, **pair).http_options()
    with pytest.raises(RuntimeConfigError, match=r"the key password .* does not open it"):
        _settings(connect_url, **pair, ISTHMUS_CONNECT_SSL_KEY_PASSWORD="wrong").http_options()
    settings = _settings(connect_url, **pair, ISTHMUS_CONNECT_SSL_KEY_PASSWORD_FILE=str(pki / "key-password"))
    assert settings.shown("ssl_key_password") == "***"
    assert isinstance(settings.http_options()["verify"], ssl.SSLContext)
