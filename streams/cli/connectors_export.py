"""`isthmus connectors export --format strimzi [--out DIR]`: the connector configs as Strimzi resources.

Nothing is sent to Kafka Connect: the configs are rendered with the overlay (``--env``, default ``strimzi``),
checked as ``validate --offline`` checks them plus what the exported KafkaConnect needs (plugins, config
providers, Secrets in its namespace), and written as YAML. Any problem: nothing is written, exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from streams.capture import configs, strimzi, validation
from streams.cli.runtime import load_runtime
from streams.cli.write_only import refuse_write_only
from streams.config_files.problem import Problem, shown

FORMATS = ("strimzi",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="connectors (default: all)")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="strimzi: a KafkaConnector per connector, the KafkaConnect with the Debezium "
                             "plugins (kafka.strimzi.io/v1beta2), and a Role to read the Secrets they name")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write one file per resource into DIR (default: one YAML stream on stdout)")


def run_export(args: argparse.Namespace) -> int:
    root: Path = getattr(args, "configs", None) or load_runtime(args).dirs.connect_configs_dir
    env: str = getattr(args, "env", None) or strimzi.DEFAULT_ENV
    config_set = configs.load(root, env=env)
    # No stack placeholders: the local stack's hosts, ports and secrets file mean nothing in the cluster.
    overlay_problems: list[Problem] = []
    variables = configs.resolve_variables(config_set.overlay, {}, overlay_problems)
    cluster, cluster_problems = strimzi.ConnectCluster.from_variables(variables, config_set.overlay.path)
    problems: dict[str, list[Problem]] = {}
    if overlay_problems or cluster_problems:
        problems[shown(config_set.overlay.path)] = [*overlay_problems, *cluster_problems]
    refuse_write_only(config_set, args.names)
    connectors = [config_set.render(name, {}) for name in config_set.select(args.names)]
    for connector in connectors:
        found = validation.check_local(connector) + (strimzi.check(connector, cluster) if cluster else [])
        if found:
            problems[connector.name] = found
    if problems or cluster is None:
        if args.json:
            print(json.dumps({"env": env, "written": [], "problems": {
                name: [p.to_json(field_key="key") for p in found] for name, found in problems.items()}}, indent=2))
        for name, found in problems.items():
            print(f"{name}: {len(found)} problem(s)", file=sys.stderr)
            for problem in found:
                print(f"  {problem}", file=sys.stderr)
        print("nothing exported: fix the problems above and export again", file=sys.stderr)
        return 1
    files = strimzi.export(connectors, cluster)
    if args.out is None:
        if args.json:
            print(json.dumps({"env": env, "files": files}, indent=2))
        else:
            sys.stdout.write(_yaml([r for resources in files.values() for r in resources]))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, resources in files.items():
        (args.out / name).write_text(_yaml(resources), encoding="utf-8")
        print(f"wrote {shown(args.out / name)}", file=sys.stderr)
    if args.json:
        print(json.dumps({"env": env, "written": [str(args.out / n) for n in files]}, indent=2))
    return 0


def _yaml(resources: list[dict[str, Any]]) -> str:
    header = "# Written by `isthmus connectors export --format strimzi` from connect-configs/; no secret values.\n"
    return header + yaml.safe_dump_all(resources, sort_keys=False, default_flow_style=False, width=120)
