"""The activity simulator edits both systems through their APIs and stops by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reference_support import Place, isolated_place, running_apps

from reference.generate import GenerationSpec, generate
from reference.simulate import SimulationSpec, simulate
from streams.stack.running import RunningStack

ROOT = Path(__file__).resolve().parents[2]


def _load(place: Place) -> None:
    with place.stack.connect_crm(options=f"-c search_path={place.crm_schema}") as crm:
        erp = place.stack.connect_erp()
        try:
            with erp.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{place.erp_database}`")
                cur.execute(f"USE `{place.erp_database}`")
            generate(
                GenerationSpec(customers=100, seed=3, skus=10),
                crm=crm,
                erp=erp,
                crm_schema=place.crm_schema,
                progress=lambda _: None,
            )
        finally:
            erp.close()


def _crm_activity(place: Place) -> tuple[int, int]:
    row = place.crm_rows(
        "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM sales_orders) AS rows, "
        "(SELECT sum(version) FROM customers) + (SELECT sum(version) FROM contacts) "
        "+ (SELECT sum(version) FROM addresses) AS versions"
    )[0]
    return int(row["rows"]), int(row["versions"])


def _erp_activity(place: Place) -> int:
    row = place.erp_rows(
        "SELECT (SELECT sum(version) FROM stock) + (SELECT sum(version) FROM accounts) "
        "+ (SELECT sum(version) FROM sales_orders) AS versions"
    )[0]
    return int(row["versions"])


def test_the_simulator_edits_both_databases_and_stops_at_its_bound(stack: RunningStack) -> None:
    with isolated_place(stack, "sim") as place:
        _load(place)
        with running_apps(place) as apps:
            account = apps.erp.post("/accounts", json={"name": "Simulated buyer"}).json()["account_id"]
            for _ in range(2):
                apps.erp.post(
                    "/orders", json={"account_id": account, "lines": [{"sku": "SKU-000001", "quantity": 1}]}
                )
            crm_before, erp_before = _crm_activity(place), _erp_activity(place)

            summary = simulate(
                SimulationSpec(
                    crm_url=apps.crm_url, erp_url=apps.erp_url, rate=200, seconds=300, seed=4, max_actions=80
                )
            )
            command = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "reference.simulate",
                    "--rate",
                    "50",
                    "--seconds",
                    "300",
                    "--seed",
                    "5",
                    "--max-actions",
                    "10",
                    "--crm-url",
                    apps.crm_url,
                    "--erp-url",
                    apps.erp_url,
                ],
                cwd=ROOT,
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=300,
            )

        assert sum(summary.total.values()) == 80
        assert summary.ok("crm.") > 0 and summary.ok("erp.") > 0
        crm_after = _crm_activity(place)
        assert crm_after[0] > crm_before[0] and crm_after[1] > crm_before[1]
        assert _erp_activity(place) > erp_before
        assert command.returncode == 0, command.stderr
        assert any(line.startswith("10 actions in") for line in command.stdout.splitlines()), command.stdout


def test_the_simulator_refuses_a_non_loopback_address() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reference.simulate",
            "--rate",
            "1",
            "--seconds",
            "1",
            "--seed",
            "1",
            "--crm-url",
            "http://10.1.2.3:18001",
            "--erp-url",
            "http://127.0.0.1:18002",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "--crm-url 'http://10.1.2.3:18001' is not on loopback" in result.stderr
