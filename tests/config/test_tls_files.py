"""The client certificate, its key and the key's password are read together each time a Kafka client is built, so a
flow restarting after a certificate rotation reads the new key with its new password; files that do not make a TLS
context are an error naming them and the fix, which a flow retries, never a crash of the worker.

A user rotated the worker's mutual-TLS key to a new one with a new password: the password had been read once at
start-up, so the next flow restart failed with ``ssl.SSLError: [SSL] PEM lib`` and stopped the worker; a swap that
replaced the key before the certificate stopped it with ``KEY_VALUES_MISMATCH``."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from streams.codecs.avro.single_object import SchemaStore
from streams.config.exceptions import TlsFilesUnusable
from streams.config.kafka import KafkaSettings, client_kwargs
from streams.flows.engine import processor as engine
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.kafka.refusals import principal

pytestmark = [pytest.mark.unit,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test's certificates")]


def _pair(folder: Path, name: str, password: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``CN=ledger-svc`` and its key, encrypted with ``password``."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=ledger-svc/O=books",
                    "-passout", f"pass:{password}"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, Path]:
    """The files the settings name (``ledger.crt``, ``ledger.key``, ``ledger.pass``) and two pairs to put there."""
    made = tmp_path / "made"
    made.mkdir()
    old_cert, old_key = _pair(made, "old", "first-secret")
    new_cert, new_key = _pair(made, "new", "second-secret")
    files = {"cert": tmp_path / "ledger.crt", "key": tmp_path / "ledger.key", "password": tmp_path / "ledger.pass",
             "old_cert": old_cert, "old_key": old_key, "new_cert": new_cert, "new_key": new_key}
    shutil.copy(old_cert, files["cert"])
    shutil.copy(old_key, files["key"])
    files["password"].write_text("first-secret\n")
    return files


def _settings(files: dict[str, Path]) -> KafkaSettings:
    return KafkaSettings.model_validate({"bootstrap_servers": "127.0.0.1:9", "security_protocol": "SSL",
                                         "ssl_certfile": str(files["cert"]), "ssl_keyfile": str(files["key"]),
                                         "ssl_key_password_file": str(files["password"])})


def test_a_key_rotated_with_a_new_password_is_read_with_it_at_the_next_client(installed: dict[str, Path]) -> None:
    settings = _settings(installed)
    assert isinstance(client_kwargs(settings)["ssl_context"], ssl.SSLContext)
    shutil.copy(installed["new_key"], installed["key"])
    shutil.copy(installed["new_cert"], installed["cert"])
    installed["password"].write_text("second-secret\n")
    assert isinstance(client_kwargs(settings)["ssl_context"], ssl.SSLContext)  # before: [SSL] PEM lib
    assert principal(settings) == "User:ledger-svc"


def test_a_key_replaced_before_its_certificate_names_both_files_and_the_fix(installed: dict[str, Path]) -> None:
    settings = _settings(installed)
    shutil.copy(installed["new_key"], installed["key"])
    installed["password"].write_text("second-secret\n")
    with pytest.raises(TlsFilesUnusable) as unusable:
        client_kwargs(settings)
    text = str(unusable.value)
    assert f"the client certificate {installed['cert']} and key {installed['key']} do not belong together" in text
    assert "KEY_VALUES_MISMATCH" in text and "put the new pair in place together" in text


def test_a_key_that_does_not_open_with_its_password_names_the_password_file(installed: dict[str, Path]) -> None:
    settings = _settings(installed)
    installed["password"].write_text("second-secret\n")
    with pytest.raises(TlsFilesUnusable) as unusable:
        client_kwargs(settings)
    assert f"the key does not open with the password in {installed['password']} (read again each time)" in str(
        unusable.value)


def test_a_flow_retries_tls_files_that_do_not_load_and_reads_them_again(
        installed: dict[str, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The flow's consumer cannot be built after a half-done rotation: the flow restarts (a WARNING naming the
    files), and once both files are in place the next restart builds its consumer with them."""
    shutil.copy(installed["new_key"], installed["key"])
    installed["password"].write_text("second-secret\n")
    processor = FlowProcessor(FlowSpec(name="ledger-balances", inputs=("ledger.accounts",),
                                       handler=lambda record, ctx: None),
                              EngineSettings(bootstrap_servers=_settings(installed), restart_delay_s=0.0),
                              SchemaStore.from_directory())
    stop = asyncio.Event()
    built: list[Any] = []

    async def nothing_to_create() -> None:
        pass

    def consumer(**kwargs: Any) -> Any:
        built.append(kwargs["ssl_context"])
        stop.set()
        raise KafkaConnectionError("the test ends here")

    def rotated(exc: Exception) -> None:
        restarting(exc)
        shutil.copy(installed["new_cert"], installed["cert"])

    restarting = processor._restarting
    monkeypatch.setattr(processor, "ensure_topics", nothing_to_create)
    monkeypatch.setattr(processor, "_restarting", rotated)
    monkeypatch.setattr(engine, "AIOKafkaConsumer", consumer)
    with caplog.at_level(logging.WARNING, logger="streams.flows.engine.processor"):
        asyncio.run(processor.run(stop))
    assert len(built) == 1 and isinstance(built[0], ssl.SSLContext)
    first = caplog.records[0].getMessage()
    assert first.startswith("ledger-balances: the client certificate ") and "KEY_VALUES_MISMATCH" in first
