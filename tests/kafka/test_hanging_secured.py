"""`isthmus topics hanging` on a secured cluster: Kafka's transactions tool logs in as every other client does.

A new user's cluster took mutual TLS with an encrypted PEM key; the tool was run with ``--bootstrap-server`` alone
(PLAINTEXT) and failed with "The AdminClient thread has exited", and it asked broker 1 only. The Kafka settings
now reach it as ``--command-config``, a file only its owner may read that is gone once the tool is done, and every
broker is asked.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from streams.config.exceptions import RuntimeConfigError
from streams.config.kafka import KafkaSettings, java_client_properties
from streams.kafka import hanging
from streams.kafka.hanging import HangingTransactionToolError, TransactionsTool, find_hanging

pytestmark = pytest.mark.unit

CERT = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"
HEADER = "Topic\tPartition\tProducerId\tProducerEpoch\tCoordinatorEpoch\tStartOffset\tLastTimestamp\tDuration(min)\n"
ROW = "crm.crm.customers\t0\t7\t3\t0\t120\t1795641969045\t91\n"
KEY_PASSWORD = "k3y pass=é"
openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="makes its keys with openssl")


def _openssl(*args: str, stdin: str = "") -> str:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, encoding="utf-8", check=True).stdout


def _pki(tmp_path: Path) -> dict[str, str]:
    """A CA and client certificate (dummies: only the tool reads them) and a real key, encrypted as openssl does by
    default (PKCS#8 with PBES2, which Java 17 cannot decrypt); the key as Java reads it in ``plain.key``."""
    for name, text in (("ca.crt", CERT), ("client.crt", CERT)):
        (tmp_path / name).write_text(text, encoding="ascii")
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(tmp_path / "plain.key"))
    _openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(tmp_path / "plain.key"), "-out",
             str(tmp_path / "client.key"), "-passout", "stdin", stdin=KEY_PASSWORD + "\n")
    (tmp_path / "jars").mkdir(exist_ok=True)
    (tmp_path / "jars" / "kafka-tools-4.3.0.jar").write_bytes(b"")
    return {"ssl_cafile": str(tmp_path / "ca.crt"), "ssl_certfile": str(tmp_path / "client.crt"),
            "ssl_keyfile": str(tmp_path / "client.key"), "tools_dir": str(tmp_path / "jars")}


def _mutual_tls(tmp_path: Path, **more: Any) -> KafkaSettings:
    return KafkaSettings.model_validate({"bootstrap_servers": "b1:9093,b2:9093", "security_protocol": "SSL",
                                         "ssl_key_password": KEY_PASSWORD, **_pki(tmp_path), **more})


def _properties(path: Path) -> dict[str, str]:
    """A Java properties file with one ``key=value`` line each (what java_client_config writes)."""
    found = {}
    for line in path.read_text(encoding="ascii").splitlines():
        key, _, value = line.partition("=")
        found[key] = value
    return found


_run = subprocess.run


class _Tool:
    """subprocess.run as the tool (openssl still runs): records each call of the tool, the client config file as
    it was during the call."""

    def __init__(self, stdout: str = HEADER, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.configs: list[tuple[Path, int, dict[str, str]]] = []
        self.stdout, self.returncode = stdout, returncode

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if argv[0] == "openssl":
            return _run(argv, **kwargs)
        self.calls.append(argv)
        config = Path(argv[argv.index("--command-config") + 1])
        self.configs.append((config, config.stat().st_mode & 0o777, _properties(config)))
        return subprocess.CompletedProcess(argv, self.returncode, self.stdout, "")


@openssl
def test_the_tool_logs_in_with_the_settings_and_asks_every_broker(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    tool_run = _Tool(stdout=HEADER + ROW)
    monkeypatch.setattr(hanging.subprocess, "run", tool_run)
    monkeypatch.setattr(hanging, "broker_ids", lambda kafka: [1, 2, 3])
    found = find_hanging(TransactionsTool.for_kafka(_mutual_tls(tmp_path)))

    assert [argv[argv.index("--broker-id") + 1] for argv in tool_run.calls] == ["1", "2", "3"]
    assert [t.describe() for t in found] == ["crm.crm.customers[0] from offset 120: producer 7 epoch 3, open 91 min"], \
        "a partition every replica reports is one hanging transaction"
    config, mode, properties = tool_run.configs[0]
    assert mode == 0o600
    assert not config.exists(), "the file holding the key and its password is removed once the tool is done"
    plain = (tmp_path / "plain.key").read_text(encoding="ascii").strip()
    assert properties == {
        "security.protocol": "SSL",
        "ssl.truststore.type": "PEM", "ssl.truststore.location": str(tmp_path / "ca.crt"),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": "-----BEGIN CERTIFICATE-----\\nMIIBcert\\n-----END CERTIFICATE-----",
        # decrypted with the key password into the one form Java reads: the key and its password in one file
        "ssl.keystore.key": plain.replace("\n", "\\n"),
    }


def test_sasl_goes_in_a_jaas_line_escaped_for_jaas_and_properties(tmp_path: Path) -> None:
    settings = KafkaSettings.model_validate({
        "bootstrap_servers": "b1:9093", "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "isthmus", "sasl_password": 'p"w\\é', "ssl_check_hostname": False})
    properties = java_client_properties(settings)
    assert properties["sasl.mechanism"] == "SCRAM-SHA-512"
    assert properties["sasl.jaas.config"] == ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                                              'username="isthmus" password="p\\"w\\\\é";')
    assert properties["ssl.endpoint.identification.algorithm"] == ""
    assert "ssl.truststore.location" not in properties, "no CA file: the JVM's trust store"


def test_the_file_is_written_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool_run = _Tool()
    monkeypatch.setattr(hanging.subprocess, "run", tool_run)
    settings = KafkaSettings.model_validate({
        "bootstrap_servers": "b1:9092", "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
        "sasl_username": "isthmus", "sasl_password": "a=b:c é", "tools_dir": _pki(tmp_path)["tools_dir"]})
    TransactionsTool.for_kafka(settings).run("list")
    line = tool_run.configs[0][2]["sasl.jaas.config"]
    assert line.endswith('password\\="a\\=b\\:c \\u00e9";'), "= : and non-Latin characters are escaped"


@openssl
def test_a_failing_tool_names_the_cluster_never_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hanging.subprocess, "run", _Tool(stdout="Error: SSL handshake failed\n", returncode=1))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    with pytest.raises(HangingTransactionToolError) as raised:
        TransactionsTool.for_kafka(_mutual_tls(tmp_path)).run("list")
    assert "b1:9093,b2:9093 (SSL)" in str(raised.value) and "SSL handshake failed" in str(raised.value)
    assert KEY_PASSWORD not in str(raised.value) and "PRIVATE KEY" not in str(raised.value)
    assert not list((tmp_path / "tmp").iterdir()), "the client config is removed when the tool fails too"


@openssl
def test_a_key_that_does_not_open_with_the_password_names_the_settings(tmp_path: Path) -> None:
    with pytest.raises(RuntimeConfigError, match=r"ISTHMUS_KAFKA_SSL_KEYFILE .* could not be read with the key "
                       r"password .*ISTHMUS_KAFKA_SSL_KEY_PASSWORD_FILE"):
        java_client_properties(_mutual_tls(tmp_path, ssl_key_password="wrong"))
    with pytest.raises(RuntimeConfigError, match="is encrypted and no key password is set"):
        java_client_properties(_mutual_tls(tmp_path, ssl_key_password=None))
