"""`isthmus worker` as a real process: endpoints, graceful stop on SIGTERM, a bad mapping refused at start, a flow
without its mapping files left out while the others run, and no flow at all refused."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from support.metrics import parse, value
from support.ports import free_port
from support.waiting import eventually

from streams.mapping.loader import MAPPINGS_DIR
from streams.stack.running import RunningStack


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"],
                                env={**os.environ, "ISTHMUS_RESYNC_AT": "off", **env}, stdout=out,
                                stderr=subprocess.STDOUT)


def test_worker_serves_health_ready_metrics_and_stops_on_sigterm(stack: RunningStack, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    worker = _worker({"ISTHMUS_WORKER_PORT": str(port), "ISTHMUS_WORKER_ID": "probe-worker"}, log)
    base = f"http://{stack.settings.host}:{port}"
    try:
        ready = _ready(base, worker, log)
        assert httpx.get(f"{base}/health", timeout=2).json()["worker"] == "probe-worker"
        document = ready.json()
        assert document["ready"] is True
        assert all(flow["tasks"] for flow in document["flows"].values())
        samples = parse(httpx.get(f"{base}/metrics", timeout=2).text)
        for name in ("isthmus_flow_records_total", "isthmus_flow_emitted_total",
                     "isthmus_flow_processing_seconds_total"):
            assert all(value(samples, name, worker="probe-worker", flow=flow) is not None
                       for flow in document["flows"]), name
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]


def test_a_mapping_with_an_error_is_refused_at_start(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, mappings)
    broken = mappings / "customer.yaml"
    text = broken.read_text()
    assert "      email: email\n" in text
    broken.write_text(text.replace("      email: email\n", "      email: e_mail_address\n", 1))
    line = next(n for n, row in enumerate(broken.read_text().splitlines(), 1) if "e_mail_address" in row)

    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "worker"], capture_output=True, text=True,
                            env={**os.environ, "ISTHMUS_MAPPINGS_DIR": str(mappings), "ISTHMUS_RESYNC_AT": "off"},
                            timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert f"customer.yaml:{line}" in result.stderr
    assert "e_mail_address" in result.stderr
    assert "email" in result.stderr


def _ready(base: str, worker: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    """The worker's 200 /ready answer, within two minutes; fails with its log if it exits or never is ready."""
    def probe() -> httpx.Response | None:
        assert worker.poll() is None, f"the worker exited: {log.read_text()[-3000:]}"
        answer = httpx.get(f"{base}/ready", timeout=2)
        return answer if answer.status_code == 200 else None

    return eventually("the worker ready", probe, timeout=120, ignoring=(httpx.HTTPError,),
                      context=lambda: log.read_text()[-3000:])


def test_a_flow_without_its_mappings_is_left_out_and_the_others_run(stack: RunningStack, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, mappings)
    (mappings / "product_availability.yaml").unlink()
    port = free_port()
    log = tmp_path / "worker.log"
    worker = _worker({"ISTHMUS_WORKER_PORT": str(port), "ISTHMUS_WORKER_ID": "partial-worker",
                      "ISTHMUS_MAPPINGS_DIR": str(mappings)}, log)
    base = f"http://{stack.settings.host}:{port}"
    try:
        document = _ready(base, worker, log).json()
        assert sorted(document["flows"]) == ["isthmus-canonical", "isthmus-customer360", "isthmus-customers",
                                             "isthmus-orders", "isthmus-orders-results-keying"]
        assert all(flow["tasks"] for flow in document["flows"].values())
        assert list(document["unavailable"]) == ["isthmus-stock"]
        assert "product_availability.yaml" in httpx.get(f"{base}/health", timeout=2).json()["unavailable"][
            "isthmus-stock"]
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert text.count("ERROR streams.flows.registry: flow isthmus-stock is not started") == 1, text[-3000:]


def test_a_worker_with_no_flow_it_can_build_is_refused_with_the_reasons(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "worker"], capture_output=True, text=True,
                            env={**os.environ, "ISTHMUS_MAPPINGS_DIR": str(mappings), "ISTHMUS_RESYNC_AT": "off",
                                 "ISTHMUS_WORKER_FLOWS": "isthmus-stock"}, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "no flow can be built" in result.stderr
    assert "isthmus-stock: isthmus-stock needs mappings/product_availability.yaml" in result.stderr
