"""`isthmus mappings ...`: the columns each system's mapping files are checked against, and the check itself.

- ``discover <system>`` reads the system's live catalog (with its connector's connection) and writes its
  columns file, ``systems/<system>.columns.yaml``; ``--check`` compares instead, and exits 1 on drift.
- ``validate`` loads every mapping file, then builds every flow file over them as a worker does, and loads the
  target file of every system the flows can write into (each writable system) as ``isthmus sink --check`` does,
  and checks that each command the flows can send has a route there, whose ``children`` (if any) read a list the
  command carries; prints each problem (of every flow file at once, a flow file the worker would leave out among
  them), and exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from streams.catalog import Catalog, ColumnsFileError, differences, path_for, read, write
from streams.catalog.live import connection_for, discover
from streams.catalog.model import identities
from streams.cli.commands import help_of
from streams.cli.runtime import load_runtime
from streams.codecs.avro.single_object import SchemaStore
from streams.config.dirs import DirectorySettings
from streams.errors import IsthmusError
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.exceptions import FlowFileError
from streams.flows.files import FLOWS_DIR_ENV, flows_dir, load_flow_files
from streams.flows.registry import BuiltFlows, build_flows
from streams.flows.routes import unlinked_routes, unrouted, unsent_clears
from streams.mapping.exceptions import MappingLoadError
from streams.mapping.loader import MAPPINGS_DIR_ENV, load_mappings, mappings_dir
from streams.sinks.config.model import TargetConfig
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.runner import load_system_target
from streams.systems import load_systems


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "mappings", help=help_of("mappings"),
        description="Mapping files are checked against each system's columns file (systems/<name>.columns.yaml), "
                    "which `discover` writes from the live database catalog.")
    commands = group.add_subparsers(dest="mappings_command", required=True, metavar="SUBCOMMAND")

    parser = commands.add_parser(
        "discover", help="read a system's live catalog and write its columns file",
        description="Connect as the system's connector does (its config rendered with --env's overlay; "
                    "${file:...} and ${env:...} resolved here), read the tables of the system's namespace from "
                    "information_schema (and pg_catalog on PostgreSQL: types, enum labels, CHECK IN lists, primary "
                    "keys, all visible to the connector's read-only user), and write the columns file.")
    parser.add_argument("system", metavar="SYSTEM", help="a system of systems/ (its file's name)")
    parser.add_argument("--env", default="local", metavar="ENV",
                        help="overlay of connect-configs/overlays for the connection (default: local)")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="columns file to write or check (default: systems/<system>.columns.yaml)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing: compare the live catalog with the file, exit 1 naming each difference")
    parser.set_defaults(run=run_discover)

    parser = commands.add_parser(
        "validate", help="load every mapping file, then build every flow file over them as a worker does and load "
                         "the target files of the systems they write into as `isthmus sink --check` does, check "
                         "that every command the flows send has a route there, and print each problem (exit 1 if "
                         "any)")
    parser.add_argument("--dir", type=Path, default=None, metavar="DIR",
                        help="folder of mapping files (default: ISTHMUS_MAPPINGS_DIR, else mappings/)")
    parser.add_argument("--flows", type=Path, default=None, metavar="DIR",
                        help="folder of flow files (default: ISTHMUS_FLOWS_DIR, else flows/ unless --dir is given)")
    parser.set_defaults(run=run_validate)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_discover(args: argparse.Namespace) -> int:
    systems = load_systems()
    spec = systems[args.system]
    if not spec.captured:
        print(f"{spec.name} is written only (capture: none in {spec.path}): Isthmus reads no database of it, so "
              "there is nothing to discover and no columns file to write or check")
        return 0
    output: Path = args.output or path_for(systems.directory, spec.name)
    connection = connection_for(spec, variables=load_runtime(args).connector_variables, env=args.env)
    _say(f"reading the catalog of {spec.name} ({connection}, namespace {spec.namespace}) ...")
    live = discover(spec, connection)
    _say(f"  {len(live.tables)} tables, {live.column_count} columns")
    for warning in (*cascade_warnings(live), *zero_date_warnings(live)):
        _say(warning)
    if args.check:
        return _check(output, live)
    write(output, live)
    _summary(live)
    print(f"wrote {output}: {len(live.tables)} tables, {live.column_count} columns")
    return 0


def cascade_warnings(catalog: Catalog) -> list[str]:
    """One warning per foreign key whose engine changes the child rows itself, which MariaDB/MySQL write to no
    binlog (:meth:`Catalog.unlogged_cascades`)."""
    engine = {"mariadb": "MariaDB", "mysql": "MySQL"}.get(catalog.engine, catalog.engine)
    warnings = []
    for key in catalog.unlogged_cascades():
        child, parent = f"{key.table} ({', '.join(key.columns)})", f"{key.parent} ({', '.join(key.parent_columns)})"
        events = " and ".join(("an update of the key of" if rule.startswith("ON UPDATE") else "a delete of")
                              + f" a {key.parent} row" for rule in key.changing_rules)
        warnings.append(
            f"WARNING: foreign key {key.name} of {child} references {parent} {' '.join(key.changing_rules)}: "
            f"{engine} writes the changes a cascade makes to {key.table} to no binlog, so Debezium never sees them "
            f"and they never reach Kafka: after {events}, {key.table}'s topic (and every system fed from it) keeps "
            f"the old rows; fix: if {key.table} is captured, drop the cascade (ON UPDATE/ON DELETE RESTRICT) and "
            f"change or delete {key.table}'s rows explicitly in the same transaction as the {key.parent} row "
            "(see systems/README.md, \"Foreign keys that cascade\")")
    return warnings


def zero_date_warnings(catalog: Catalog) -> list[str]:
    """One warning per NOT NULL date column that can hold a zero date (:class:`ZeroDateColumn`), which Debezium sends
    as the epoch: a made-up date every system it is synced to takes for real."""
    warnings = []
    for found in catalog.zero_dates:
        why = " and ".join([*(["its default is a zero date"] if found.zero_default else []),
                            *(["the server's sql_mode has no strict mode, so an invalid date is stored as a zero date"]
                              if found.lax_mode else [])])
        warnings.append(
            f"WARNING: {found.table}.{found.column} is {found.sql_type} NOT NULL and can hold a zero date "
            f"('0000-00-00'): {why}. Debezium sends a zero date of a NOT NULL column as 1970-01-01T00:00:00 (the "
            "epoch), so it reaches the other systems as that date (shifted by the system's time_zone where it is a "
            "local time), and nothing says so; fix: make the column nullable and store "
            f"NULL for no date (ALTER TABLE {found.table} MODIFY {found.column} {found.sql_type} NULL; UPDATE "
            f"{found.table} SET {found.column} = NULL WHERE {found.column} = 0), which arrives as null, and set "
            "NO_ZERO_DATE with a strict mode in sql_mode (see systems/README.md, \"Zero dates\")")
    return warnings


def _check(output: Path, live: Catalog) -> int:
    if not output.is_file():
        print(f"{output}: no columns file; fix: run `isthmus mappings discover {live.system}` to write it")
        return 1
    try:
        recorded = read(output)
    except ColumnsFileError as exc:
        print(str(exc))
        return 1
    found = differences(recorded, live)
    if not found:
        print(f"{output} is up to date with the live catalog ({len(live.tables)} tables)")
        return 0
    print(f"{output} differs from the live catalog of {live.system} ({len(found)} difference"
          f"{'s' if len(found) != 1 else ''}):")
    for line in found:
        print(f"  {line}")
    print(f"fix: if the change is intended, run `isthmus mappings discover {live.system}` and commit the file, "
          "then `isthmus mappings validate`")
    return 1


def _summary(catalog: Catalog) -> None:
    caveats = {identity.name: identity.caveat for identity in identities(catalog)}
    for name, table in catalog.tables.items():
        key = f"key ({', '.join(table.primary_key)})" if table.primary_key else "no primary key"
        caveat = caveats.get(name)
        _say(f"  {name}: {len(table.columns)} columns, {key}" + (f"; {caveat}" if caveat else ""))


def run_validate(args: argparse.Namespace) -> int:
    directory: Path = args.dir or mappings_dir()
    flows: Path | None = args.flows or (flows_dir() if args.dir is None or os.environ.get(FLOWS_DIR_ENV) else None)
    try:
        loaded = load_mappings(directory)
    except (MappingLoadError, ColumnsFileError) as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{_problems(len(exc.problems))} in the mapping files of {directory}")
        if flows is not None:
            _read_flows_alone(flows)
        return 1
    for warning in (w for m in loaded.values() for w in m.warnings):
        print(f"warning: {warning}")
    print(f"{len(loaded)} mapping files of {directory} are valid")
    if flows is None:
        print(f"flow files not checked: give --flows DIR (or set {FLOWS_DIR_ENV}) for the flows that use "
              f"{directory}")
        return 0
    env = {**os.environ, MAPPINGS_DIR_ENV: str(directory), FLOWS_DIR_ENV: str(flows)}
    built, targets = _validate_flows(flows, env), _validate_targets(env)
    if built is None or targets is None:
        return 1
    routed = _validate_routes(built.flows, targets, env)
    return 1 if built.unavailable else routed


def _problems(count: int) -> str:
    return f"{count} problem{'s' if count != 1 else ''}"


def _read_flows_alone(flows: Path) -> None:
    """The flow files' own problems, found without the mappings they are built over, so that one run of
    ``validate`` names what is wrong in both folders."""
    try:
        load_flow_files(flows)
    except FlowFileError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{_problems(len(exc.problems))} in the flow files of {flows} (read on their own: they are built "
              "over the mappings once those load)")
        return
    print(f"the flow files of {flows} have no problem in their top-level keys and block names; their sections "
          "are checked when they are built over the mappings, once those load")


def _validate_flows(flows: Path, env: dict[str, str]) -> BuiltFlows | None:
    """Every flow file of ``flows`` built over the mappings ``env`` names, as a worker builds them; None when they
    do not build (each problem printed). A flow file that a worker would leave out (it names a mapping file the
    folder lacks) is a problem too, printed here: the flows that build are still checked against the targets."""
    try:
        built = build_flows(FlowContext.load(env), env=env)
    except FlowFileError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{_problems(len(exc.problems))} in the flow files of {flows}")
        return None
    except IsthmusError as exc:
        print(f"{exc}\nthe flow files of {flows} cannot be built")
        return None
    count = len(built.flows)
    for warning in (w for f in built.flows for w in f.warnings):
        print(f"warning: {warning}")
    left_out = [line for name, reason in built.unavailable.items()  # a plugin's flow has no file to point at
                for line in [str(p) for p in built.problems.get(name, ())] or [f"flow {name}: {reason}"]]
    if left_out:
        print("\n".join(left_out))
        print(f"{_problems(len(left_out))} in the flow files of {flows}: a worker leaves out "
              f"{', '.join(built.unavailable)} (logged at ERROR) and runs the others")
    if not count:
        print(f"no flow of {flows} builds: a worker there would run nothing and is refused at start; fix: add a "
              "flow file (flows/README.md), or name the folder that holds yours with --flows or "
              f"{FLOWS_DIR_ENV}")
        return None
    print(f"{count} flow{'s' if count != 1 else ''} of {flows} build{'' if count != 1 else 's'}: "
          f"{', '.join(f.name for f in built.flows)}")
    return built


def _validate_targets(env: dict[str, str]) -> dict[str, TargetConfig] | None:
    """The target file of each system the flows can write into (a writable declared system), loaded as its sink
    loads it at ``isthmus sink --check`` and at start (``ISTHMUS_SINK_TARGETS_DIR`` read as there); None when one
    does not load (each problem printed)."""
    try:
        systems = load_systems(env=env)
    except IsthmusError as exc:
        print(f"{exc}\nthe target files cannot be checked")
        return None
    schemas, folder = SchemaStore.from_directory(), DirectorySettings.from_env(env).sink_targets_dir
    count = 0
    loaded: dict[str, TargetConfig] = {}
    for system in systems.writable:
        try:
            loaded[system] = load_system_target(system, folder, schemas, systems)
        except TargetConfigError as exc:
            lines = [str(p) for p in exc.problems] or [str(exc)]
            print("\n".join(lines))
            count += len(lines)
    if count:
        print(f"{_problems(count)} in the target files of {', '.join(systems.writable)}: each refuses its sink at "
              "start (`isthmus sink --target <system> --check`)")
        return None
    if systems.writable:
        print(f"the target files of {', '.join(systems.writable)} load as their sinks load them")
    return loaded


def _validate_routes(flows: list[FlowSpec], targets: dict[str, TargetConfig], env: dict[str, str]) -> int:
    """Every kind of command the flows can send has a route in its target's file, found as the sink finds it, and
    one whose ``children`` read a list the commands carry."""
    files = {f.name: f for f in load_flow_files(env=env)}
    for warning in unlinked_routes(flows, targets, files):
        print(f"warning: {warning}")
    problems = unrouted(flows, targets, files)
    for problem in problems:
        print(problem)
    cleared = unsent_clears(flows, targets, files)
    for problem in cleared:
        print(problem)
    if problems:
        print(f"{_problems(len(problems))}: commands the flows send that their target files cannot apply (no route "
              "for them, or a route's children reading a list they never carry); the sinks would dead-letter each "
              "one")
    if cleared:
        print(f"{_problems(len(cleared))}: routes that cannot send a null the flows send (a field cleared in its "
              "source); the sinks would dead-letter each such command")
    if problems or cleared:
        return 1
    if targets:
        print(f"every command the flows send has a route in the target files of {', '.join(targets)}")
    return 0
