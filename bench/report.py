"""Figures out: JSON per benchmark (bench/results/, git-ignored) and rows of BENCHMARKS.md (committed).

BENCHMARKS.md is rewritten from its own table: a run replaces the rows of the figures it measured and
keeps every other row, so running one benchmark does not erase the others' last figures.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.exceptions import BenchError
from bench.machine import Machine

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TABLE_HEADER = "| Benchmark | Figure | Value | Target | Met | Machine | Measured |"
TABLE_RULE = "|---|---|---|---|---|---|---|"
PROFILE_START, PROFILE_END = "<!-- profile:start -->", "<!-- profile:end -->"
#: Findings written by hand between these marks are kept by every run.
NOTES_START, NOTES_END = "<!-- notes:start -->", "<!-- notes:end -->"


@dataclass(frozen=True, kw_only=True)
class Row:
    benchmark: str
    figure: str
    value: str
    target: str = ""
    met: str = ""
    machine: str = ""
    measured: str = ""

    def line(self) -> str:
        cells = [self.benchmark, self.figure, self.value, self.target, self.met, self.machine, self.measured]
        return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"

    @classmethod
    def parse(cls, line: str) -> Row:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 7:
            raise BenchError(f"BENCHMARKS.md: the table row {line!r} does not have 7 cells; fix or delete it")
        return cls(benchmark=cells[0], figure=cells[1], value=cells[2], target=cells[3], met=cells[4],
                   machine=cells[5], measured=cells[6])


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method; ``values`` need not be sorted."""
    if not values:
        raise BenchError("a percentile of no measurements was asked for; the benchmark measured nothing")
    if not 0 <= q <= 100:
        raise BenchError(f"percentile {q} is outside 0-100")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def verdict(met: bool | None) -> str:
    return "" if met is None else "yes" if met else "**no**"


def machine_label(machine: Machine) -> str:
    return f"{machine.cores} cores, {machine.memory_gib:.0f} GiB, {machine.cpu_model}"


def merge(document: str, rows: Sequence[Row], *, machine: Machine, profile: str | None = None) -> str:
    """BENCHMARKS.md text where ``rows`` replace every earlier row of their benchmarks (a figure the new run
    no longer produces must not linger beside its figures), placed where that benchmark's rows were; the rows
    of benchmarks not run are kept, in order."""
    kept: list[Row] = []
    lines = document.splitlines()
    in_table = False
    blocks: dict[str, list[str]] = {PROFILE_START: [], NOTES_START: []}
    ends = {PROFILE_END: PROFILE_START, NOTES_END: NOTES_START}
    inside: str | None = None
    for line in lines:
        if line.strip() in blocks:
            inside = line.strip()
            continue
        if line.strip() in ends:
            inside = None
            continue
        if inside is not None:
            blocks[inside].append(line)
            continue
        if line.strip() == TABLE_HEADER:
            in_table = True
            continue
        if in_table:
            if line.strip() == TABLE_RULE:
                continue
            if not line.startswith("|"):
                in_table = False
                continue
            kept.append(Row.parse(line))
    measured = {r.benchmark for r in rows}
    merged: list[Row] = []
    for row in kept:
        if row.benchmark not in measured:
            merged.append(row)
        elif not any(r.benchmark == row.benchmark for r in merged):
            merged.extend(r for r in rows if r.benchmark == row.benchmark)
    merged.extend(r for r in rows if r not in merged)
    profile_lines = profile.splitlines() if profile is not None else blocks[PROFILE_START]
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/README.md says what each figure measures and how). Each row names the",
        "machine it was measured on; the last run was on: " + machine.describe() + ".",
        "Targets are those of issues 8 and 17; `Met` says honestly whether the figure reaches its target.",
        "",
        TABLE_HEADER,
        TABLE_RULE,
        *(r.line() for r in merged),
        "",
        "## Findings",
        "",
        NOTES_START,
        *blocks[NOTES_START],
        NOTES_END,
        "",
        "## Engine profile (cProfile, top functions by own time)",
        "",
        PROFILE_START,
        *profile_lines,
        PROFILE_END,
        "",
    ]
    return "\n".join(out)


def write_results(name: str, payload: dict[str, object], results_dir: Path = RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                **payload}, indent=2, default=str) + "\n")
    return path


def today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())
