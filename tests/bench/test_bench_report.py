"""The harness's pure helpers: percentiles, machine facts from /proc text, and BENCHMARKS.md row merging."""

from __future__ import annotations

import pytest

from bench.exceptions import BenchError
from bench.machine import Machine, cpu_model, memory_gib
from bench.memory_worker import vm_hwm_kib
from bench.report import NOTES_END, NOTES_START, PROFILE_END, PROFILE_START, Row, merge, percentile

pytestmark = pytest.mark.unit

MACHINE = Machine(cores=2, memory_gib=23.5, cpu_model="Test CPU", kernel="6.1", python="3.11.7",
                  versions={"Kafka": "4.3.0"})


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_names_the_problem() -> None:
    with pytest.raises(BenchError, match="measured nothing"):
        percentile([], 50)
    with pytest.raises(BenchError, match="outside 0-100"):
        percentile([1.0], 101)


def test_machine_facts_from_proc_text() -> None:
    assert cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n") == "AMD EPYC 7B13"
    assert cpu_model("") == "unknown"
    assert memory_gib("MemTotal:       24683520 kB\nMemFree: 1 kB\n") == pytest.approx(23.54, abs=0.01)
    assert vm_hwm_kib("Name:\tpython\nVmHWM:\t  123456 kB\nVmRSS:\t 1 kB\n") == 123456


def test_merge_replaces_measured_rows_and_keeps_the_others() -> None:
    first = merge("", [Row(benchmark="stream stage", figure="ratio", value="0.40", met="**no**"),
                       Row(benchmark="worker memory", figure="peak", value="300 MiB")],
                  machine=MACHINE, profile="old profile")
    first = first.replace(f"{NOTES_START}\n{NOTES_END}", f"{NOTES_START}\nhand-written finding\n{NOTES_END}")
    first = merge(first, [Row(benchmark="stream stage", figure="ratio", value="0.40", met="**no**"),
                          Row(benchmark="stream stage", figure="raw loop, 5,000 records", value="9 ev/s")],
                  machine=MACHINE)
    second = merge(first, [Row(benchmark="stream stage", figure="ratio", value="0.60", met="yes")], machine=MACHINE)
    assert "| stream stage | ratio | 0.60 |  | yes |" in second
    assert "0.40" not in second
    assert "5,000 records" not in second, "a figure of the benchmark that the new run did not produce is gone"
    assert "| worker memory | peak | 300 MiB |" in second
    assert second.index("stream stage") < second.index("worker memory")
    assert f"{PROFILE_START}\nold profile\n{PROFILE_END}" in second
    assert f"{NOTES_START}\nhand-written finding\n{NOTES_END}" in second
    assert "2 cores, 23.5 GiB, Test CPU" in second


def test_merge_rejects_a_broken_row() -> None:
    document = merge("", [Row(benchmark="a", figure="b", value="c")], machine=MACHINE).replace("| a | b |", "| a |")
    with pytest.raises(BenchError, match="7 cells"):
        merge(document, [], machine=MACHINE)


def test_a_larger_initial_sync_is_not_run_after_a_smaller_one_missed_its_bound() -> None:
    from bench.__main__ import skipped_sync_row

    smaller: dict[str, object] = {"customers": 100_000, "linked": 45_000, "timeout_s": 900.0, "stalled_after_s": None,
                                   "fully_reconciled_seconds": None}
    row = skipped_sync_row(1_000_000, smaller, MACHINE)
    assert row.figure == "1,000,000 generated CRM customers → ERP accounts"
    assert row.value == ("not run: the 100,000 run was not reconciled within its bound; at its rate (50 customers "
                         "linked back/s) 1,000,000 would take about 5.6 h")
    assert (row.target, row.met) == ("1,000,000 in < 10 min", "**no**")
