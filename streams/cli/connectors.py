"""`isthmus connectors ...`: connector configs from connect-configs/ against the Kafka Connect REST API.

Every subcommand takes ``--json`` (one JSON document on stdout; progress stays on stderr) and the
global options ``--connect-url``, ``--env`` and ``--configs``, before or after the subcommand.
Exit codes: 0 done, 1 a config is invalid or a connector failed (or a snapshot did not read a table), 2 an
Isthmus error (see main), or a snapshot still running at its ``--timeout``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from streams.capture import configs, deploy, follow, notifications, signals, validation
from streams.capture.client import ConnectClient, ConnectorState
from streams.capture.configs import ConfigSet, LocalConnector
from streams.capture.diff import ConfigDiff, diff_configs
from streams.capture.exceptions import ConfigError, ConnectorFailed
from streams.capture.options import MARIADB, POSTGRES
from streams.catalog import live
from streams.catalog.columns_file import read_all
from streams.catalog.exceptions import CatalogError
from streams.catalog.model import BinlogServer, Catalog, TableIdentity, identities
from streams.catalog.postgres import Publication
from streams.cli import connectors_export
from streams.cli.commands import help_of
from streams.cli.runtime import load_runtime
from streams.cli.write_only import refuse_write_only, systems_folder_of
from streams.config_files.problem import Problem, shown
from streams.errors import IsthmusError
from streams.systems import Engine, load_systems


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "connectors", help=help_of("connectors"),
        description="Connector configs in connect-configs/ (one file per connector, an overlay per "
                    "environment) against the Kafka Connect REST API.")
    _global_options(group, None)
    commands = group.add_subparsers(dest="connectors_command", required=True, metavar="SUBCOMMAND")

    def add(name: str, run: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text)
        _global_options(parser, argparse.SUPPRESS)
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        parser.set_defaults(run=run)
        return parser

    parser = add("validate", run_validate, "check configs: ours (placeholders, keys, types, secrets), then "
                 "Kafka Connect's own validation; exits 1 when any is invalid")
    parser.add_argument("names", nargs="*", metavar="NAME", help="connectors (default: all)")
    parser.add_argument("--offline", action="store_true", help="skip Kafka Connect's validation")

    parser = add("diff", run_diff, "local config against deployed config, secrets masked")
    parser.add_argument("names", nargs="*", metavar="NAME", help="connectors (default: all)")

    parser = add("deploy", run_deploy, "validate, then PUT each changed config and wait until the connector "
                 "and its tasks run; nothing is deployed when any config is invalid")
    parser.add_argument("names", nargs="*", metavar="NAME", help="connectors (default: all)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for RUNNING (180)")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for RUNNING")

    parser = add("status", run_status, "a table of connectors and tasks, and whether the config is deployed")
    parser.add_argument("names", nargs="*", metavar="NAME", help="connectors (default: local and deployed)")

    parser = add("restart", run_restart, "restart connectors and their tasks, and wait until they run")
    parser.add_argument("names", nargs="+", metavar="NAME")
    parser.add_argument("--failed-only", action="store_true", help="only the FAILED connector and tasks")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (60)")
    _not_local_option(parser)

    for verb, until in (("pause", "PAUSED"), ("resume", "RUNNING"), ("delete", "gone")):
        parser = add(verb, run_lifecycle, f"{verb} connectors and wait until they are {until}")
        parser.add_argument("names", nargs="+", metavar="NAME")
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (60)")
        _not_local_option(parser)
        parser.set_defaults(verb=verb)

    parser = add("snapshot", run_snapshot, "incremental snapshot of tables, through the signal table, followed "
                 "to its end through Debezium's notifications: exits 0 when every table was read, 1 when a table "
                 "could not be (or the task failed), 2 when --timeout passed first")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--tables", required=True, type=_table_list, metavar="T1,T2",
                        help="tables, bare (customers) or qualified (crm.customers)")
    parser.add_argument("--surrogate-key", metavar="COLUMN",
                        help="read the chunks ordered by this column instead of the primary key (a table without "
                             "one): unique and never null, in every table given")
    parser.add_argument("--no-wait", action="store_true",
                        help="return once the signal is written; the snapshot runs on (Connect's log and the "
                             "notification topic tell how it ends)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds to follow the snapshot (3600); then exit 2: it may still be running")

    parser = add("export", connectors_export.run_export, "write the connectors as Kubernetes resources, no "
                 "secret values: --format strimzi (default --env strimzi); nothing is sent to Connect")
    connectors_export.add_arguments(parser)

    parser = add("offsets", run_offsets, "show a connector's source offsets, or reset them")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--reset", action="store_true",
                        help="stop the connector, delete its offsets, resume it (Debezium snapshots again)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each state (180)")


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--connect-url", default=default, metavar="URL",
                        help="Kafka Connect REST API (default: the first of ISTHMUS_CONNECT_URLS, else the stack's)")
    parser.add_argument("--env", default=default, metavar="ENV",
                        help="overlay in connect-configs/overlays: local (default, the process stack), "
                             "compose (docker-compose hostnames) or strimzi (export's default)")
    parser.add_argument("--configs", default=default, type=Path, metavar="DIR",
                        help="connector configs folder (default: ISTHMUS_CONNECT_CONFIGS_DIR, else "
                             f"{shown(configs.DEFAULT_ROOT)})")


def _not_local_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--not-local", action="store_true",
                        help="act on connectors the configs folder does not hold (on a Connect that several "
                             "environments share: another one's); refused without it")


def _refuse_not_local(ctx: Context, names: Sequence[str]) -> None:
    """Refuse to operate a connector the configs folder does not hold, unless ``--not-local``: on a Connect cluster
    that several environments share, a staging operator paused prod's ``crm-source`` by its name, unwarned."""
    if ctx.args.not_local:
        return
    local = configs.connector_names(ctx.root)
    foreign = [name for name in names if name not in local]
    if foreign:
        raise ConfigError(
            f"{', '.join(foreign)}: no such connector in {shown(ctx.root / configs.CONNECTORS_DIR)} (it holds "
            f"{', '.join(local) or 'none'}), so {'they are' if len(foreign) > 1 else 'it is'} not this "
            f"configuration's: on a Connect that several environments share, another's; nothing was done. Fix: "
            "check the name, point --configs (or ISTHMUS_CONNECT_CONFIGS_DIR) at the folder that holds it, or "
            f"give --not-local to {getattr(ctx.args, 'verb', 'restart')} it anyway")


def _table_list(text: str) -> list[str]:
    tables = [t.strip() for t in text.split(",") if t.strip()]
    if not tables:
        raise argparse.ArgumentTypeError("give at least one table, e.g. --tables customers,products")
    return tables


# -- context ------------------------------------------------------------------------------------------


class Context:
    """What a subcommand works with: settings, the config set, a Connect client, output helpers."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.json: bool = bool(getattr(args, "json", False))
        runtime = load_runtime(args)
        self.endpoints = runtime.endpoints
        self.kafka = runtime.kafka
        self.url: str = getattr(args, "connect_url", None) or runtime.connect.urls[0]
        self.env: str = getattr(args, "env", None) or "local"
        self.root: Path = getattr(args, "configs", None) or runtime.dirs.connect_configs_dir
        self._configs: ConfigSet | None = None
        self.variables: dict[str, str] = runtime.connector_variables
        self.client = ConnectClient(self.url, **runtime.connect.http_options())
        self.identities: dict[str, Identities] = {}

    @property
    def configs(self) -> ConfigSet:
        if self._configs is None:
            self._configs = configs.load(self.root, env=self.env)
        return self._configs

    def catalogs_of(self, connector: str) -> list[Catalog]:
        """The columns files of the systems ``connector`` captures: those of the ``systems/`` folder beside the
        configs folder (as a system file finds its connector), else ``ISTHMUS_SYSTEMS_DIR``'s; none when the
        systems or their columns files cannot be read (``isthmus mappings validate`` says why)."""
        return [catalog for name, catalog in self._catalogs if name == connector]

    @functools.cached_property
    def _catalogs(self) -> list[tuple[str, Catalog]]:
        """Each system's columns file with the name of its connector, read once for every connector checked."""
        folder = systems_folder_of(self.root)
        try:
            systems = load_systems(folder)
            catalogs = read_all(systems.directory)
        except IsthmusError as exc:  # a broken system or columns file: said, not silently passed as valid
            problems = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
            self.say(f"isthmus: warning: the checks against the captured tables' columns files (tables, partitioned "
                     f"tables, generated columns) are skipped: the systems in {shown(folder)} do not load: {problems}")
            return []
        return [(spec.connector, catalogs[name]) for name, spec in systems.items()
                if name in catalogs and spec.connector is not None]  # a write-only system has no connector

    def render(self, names: Sequence[str]) -> list[LocalConnector]:
        refuse_write_only(self.configs, names)
        return [self.configs.render(name, self.variables) for name in self.configs.select(names)]

    def say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def emit(self, document: Any) -> None:
        print(json.dumps(document, indent=2, sort_keys=False))

    def text(self, line: str = "") -> None:
        if not self.json:
            print(line)


def _with_context(args: argparse.Namespace, body: Callable[[Context], int]) -> int:
    context = Context(args)
    try:
        return body(context)
    finally:
        context.client.close()


# -- validate, diff, deploy ---------------------------------------------------------------------------


def _check_all(ctx: Context, connectors: list[LocalConnector], *, online: bool) -> dict[str, list[Problem]]:
    """Each connector's problems: its own, a server id it shares with any connector of the config set, and (online)
    its PostgreSQL publication's in the database."""
    every = [ctx.configs.render(name, ctx.variables) for name in ctx.configs.names]
    shared = validation.check_server_ids(connectors, every)
    results = {c.name: shared.get(c.name, []) + validation.check(c, ctx.client if online else None,
                                                                 ctx.catalogs_of(c.name)) for c in connectors}
    for connector in connectors:
        tables, existing, read = _identities(ctx, connector, online=online)
        results[connector.name] += validation.check_identities(connector, tables, existing, publication_read=read)
    for connector in connectors if online else ():
        if connector.connector_class == MARIADB and (server := _binlog_server(ctx, connector)) is not None:
            results[connector.name] += validation.check_binlog_server(connector, server)
        catalogs = ctx.catalogs_of(connector.name)
        if validation.captured_partitioned(connector, catalogs):
            via_root = _publication_via_root(ctx, connector)
            results[connector.name] += validation.check_publication(connector, catalogs, via_root)
    return results


#: A connector's tables with what identifies their changed rows, its publication as it exists, and whether that was
#: read (:func:`validation.check_identities`).
Identities = tuple[list[TableIdentity], Publication | None, bool]
_ENGINES = {POSTGRES: Engine.POSTGRESQL, MARIADB: Engine.MARIADB}


def _identities(ctx: Context, connector: LocalConnector, *, online: bool) -> Identities:
    """The tables of the database a connector reads, and (PostgreSQL) its publication, read live with the
    connector's own connection when ``online``; else, or when the database cannot be reached from here (said on
    stderr), the tables its systems' columns files record. Read once per connector."""
    if connector.name in ctx.identities:
        return ctx.identities[connector.name]
    engine = _ENGINES.get(connector.connector_class or "")
    found: Identities = ([], None, False)
    if engine is not None:
        found = ([i for catalog in ctx.catalogs_of(connector.name) for i in identities(catalog)], None, False)
    if engine is not None and online:
        publication = connector.config.get("publication.name", validation.DEFAULT_PUBLICATION)
        try:
            connection = live.connection_of(connector.config, engine=engine, path=connector.path)
            found = (live.table_identities(connection),
                     live.publication_of(connection, publication) if engine is Engine.POSTGRESQL else None, True)
        except CatalogError as exc:
            ctx.say(f"{connector.name}: the tables' keys and replica identities are judged as the columns files "
                    f"record them: {exc}")
    ctx.identities[connector.name] = found
    return found


def _binlog_server(ctx: Context, connector: LocalConnector) -> BinlogServer | None:
    """A MariaDB connector's server's binlog settings and its user's grants, read with the connector's own
    connection; None, said on stderr, when it cannot be reached from here (the check is then left out)."""
    try:
        return live.binlog_server(live.connection_of(connector.config, engine=Engine.MARIADB, path=connector.path))
    except CatalogError as exc:
        ctx.say(f"{connector.name}: the server's binlog settings and the user's grants not checked: {exc}")
        return None


def _publication_via_root(ctx: Context, connector: LocalConnector) -> bool | None:
    """The connector's publication's ``publish_via_partition_root``, read with the connector's own connection
    (as `isthmus mappings discover` reads the catalog); None, said on stderr, when the database cannot be reached
    from here (an overlay whose hosts only Connect resolves, say): the check is then left out."""
    publication = connector.config.get("publication.name", validation.DEFAULT_PUBLICATION)
    try:
        connection = live.connection_of(connector.config, engine=Engine.POSTGRESQL, path=connector.path)
        return live.publication_via_root(connection, publication)
    except CatalogError as exc:
        ctx.say(f"{connector.name}: publication {publication} not checked: {exc}")
        return None


def _warnings_all(ctx: Context, connectors: list[LocalConnector], *, online: bool) -> dict[str, list[Problem]]:
    """What each connector's config allows but likely does not mean (:func:`validation.warnings`), and what it would
    send of its tables so (a table without a primary key, INTERVAL columns as microseconds, NUMERIC columns
    that may hold NaN), and a schema history
    kept on another Kafka than the configured one: said, never refused."""
    warned = {}
    for connector in connectors:
        tables = _identities(ctx, connector, online=online)[0]
        warned[connector.name] = [*validation.warnings(connector), *validation.keyless_warnings(connector, tables),
                                  *validation.interval_warnings(connector, tables),
                                  *validation.nan_warnings(connector, tables),
                                  *validation.history_warnings(connector, ctx.kafka.bootstrap_servers)]
    return warned


def _print_problems(ctx: Context, results: dict[str, list[Problem]], checked_by: str,
                    warnings: dict[str, list[Problem]] | None = None) -> None:
    for name, problems in results.items():
        if not problems:
            ctx.text(f"{name}: valid ({checked_by})")
        else:
            ctx.text(f"{name}: {len(problems)} problem(s)")
        for problem in problems:
            ctx.text(f"  {problem}")
        for warning in (warnings or {}).get(name, ()):
            ctx.text(f"  warning: {warning}")


def _problems_json(results: dict[str, list[Problem]],
                   warnings: dict[str, list[Problem]] | None = None) -> list[dict[str, Any]]:
    return [{"name": name, "valid": not problems, "problems": [_problem_json(p) for p in problems],
             "warnings": [_problem_json(w) for w in (warnings or {}).get(name, ())]}
            for name, problems in results.items()]


def _problem_json(problem: Problem) -> dict[str, Any]:
    """A problem as ``--json`` has always shown a connector's: its config key under ``key``."""
    return problem.to_json(field_key="key")


def run_validate(args: argparse.Namespace) -> int:
    def body(ctx: Context) -> int:
        connectors = ctx.render(args.names)
        online = not args.offline
        results, warnings = _check_all(ctx, connectors, online=online), _warnings_all(ctx, connectors, online=online)
        if ctx.json:
            ctx.emit({"env": ctx.env, "connect": None if args.offline else ctx.url,
                      "connectors": _problems_json(results, warnings)})
        else:
            _print_problems(ctx, results, "isthmus checks" if args.offline else "isthmus and Kafka Connect", warnings)
        return 1 if any(results.values()) else 0  # a warning refuses nothing

    return _with_context(args, body)


def run_diff(args: argparse.Namespace) -> int:
    def body(ctx: Context) -> int:
        diffs = [diff_configs(c.name, c.config, ctx.client.find_config(c.name))
                 for c in ctx.render(args.names)]
        if ctx.json:
            ctx.emit({"env": ctx.env, "connect": ctx.url, "connectors": [d.to_json() for d in diffs]})
        for diff in diffs:
            _print_diff(ctx, diff)
        return 0

    return _with_context(args, body)


def _print_diff(ctx: Context, diff: ConfigDiff) -> None:
    ctx.text(f"{diff.name}: {diff.state}")
    if diff.deployed:
        for change in diff.changes:
            ctx.text(f"  {change}")


def run_deploy(args: argparse.Namespace) -> int:
    def body(ctx: Context) -> int:
        connectors = ctx.render(args.names)
        results = _check_all(ctx, connectors, online=True)
        if any(results.values()):
            if ctx.json:
                ctx.emit({"deployed": [], "refused": _problems_json(results)})
            else:
                _print_problems(ctx, results, "isthmus and Kafka Connect")
                ctx.text("nothing deployed: fix the problems above and deploy again")
            return 1
        done: list[dict[str, Any]] = []
        for connector in connectors:
            try:
                result = deploy.deploy(ctx.client, connector, say=ctx.say, wait=not args.no_wait,
                                       timeout=args.timeout)
            except ConnectorFailed as failed:
                return _report_failure(ctx, connector.name, failed, {"deployed": done})
            done.append(result.to_json())
            state = f", {deploy.summary(result.state)}" if result.state else ""
            ctx.text(f"{connector.name}: {result.outcome}{state}")
        if ctx.json:
            ctx.emit({"deployed": done})
        return 0

    return _with_context(args, body)


# -- status and lifecycle -----------------------------------------------------------------------------


def run_status(args: argparse.Namespace) -> int:
    def body(ctx: Context) -> int:
        deployed = set(ctx.client.connectors())
        wanted = [n for n in args.names if n in ctx.configs.files] if args.names else ctx.configs.names
        local = {c.name: c for c in ctx.render(wanted)} if wanted else {}
        names = list(dict.fromkeys(args.names)) or sorted(deployed | set(local))
        rows: list[tuple[str, ConnectorState | None, str]] = []
        for name in names:
            state = ctx.client.status(name) if name in deployed else None
            config = "not local"
            if name in local:
                found = ctx.client.find_config(name) if state else None
                config = diff_configs(name, local[name].config, found).state
            rows.append((name, state, config))
        if ctx.json:
            ctx.emit({"connect": ctx.url, "connectors": [
                {"name": name, "config": config, "status": state.to_json() if state else None}
                for name, state, config in rows]})
            return 0
        table = [("CONNECTOR", "STATE", "TASKS", "WORKER", "CONFIG")]
        for name, state, config in rows:
            if state is None:
                table.append((name, "not deployed", "-", "-", config))
            else:
                tasks = " ".join(f"{t.id}:{t.state}" for t in state.tasks) or "none"
                table.append((name, state.state, tasks, state.worker_id, config))
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        for line in table:
            ctx.text("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        for _, state, _ in rows:
            if state is not None and state.failures:
                ctx.text()
                ctx.text(deploy.failure_message(state))
        return 0

    return _with_context(args, body)


def run_restart(args: argparse.Namespace) -> int:
    def body(ctx: Context) -> int:
        _refuse_not_local(ctx, args.names)
        states: list[ConnectorState] = []
        scope = "failed only" if args.failed_only else "connector and tasks"
        for name in args.names:
            try:
                states.append(deploy.restart(ctx.client, name, only_failed=args.failed_only, say=ctx.say,
                                             timeout=args.timeout))
            except ConnectorFailed as failed:
                return _report_failure(ctx, name, failed, {"restarted": [s.to_json() for s in states]})
            ctx.text(f"{name}: restarted ({scope}); {deploy.summary(states[-1])}")
        if ctx.json:
            ctx.emit({"restarted": [s.to_json() for s in states], "only_failed": args.failed_only})
        return 0

    return _with_context(args, body)


def run_lifecycle(args: argparse.Namespace) -> int:
    def body(ctx: Context) -> int:
        _refuse_not_local(ctx, args.names)
        done: list[str] = []
        left: dict[str, str] = {}
        for name in args.names:
            if args.verb == "delete":
                config = ctx.client.find_config(name)
                deploy.delete(ctx.client, name, say=ctx.say, timeout=args.timeout)
                left[name] = deploy.left_behind(name, config)
                ctx.text(left[name])
            else:
                act = deploy.pause if args.verb == "pause" else deploy.resume
                try:
                    state = act(ctx.client, name, say=ctx.say, timeout=args.timeout)
                except ConnectorFailed as failed:
                    return _report_failure(ctx, name, failed, {args.verb: done})
                ctx.text(f"{name}: {deploy.summary(state)}")
            done.append(name)
        if ctx.json:
            ctx.emit({args.verb: done, **({"left_behind": left} if left else {})})
        return 0

    return _with_context(args, body)


def _report_failure(ctx: Context, name: str, failed: ConnectorFailed, document: dict[str, Any]) -> int:
    if ctx.json:
        ctx.emit({**document, "failed": {"name": name, "error": str(failed),
                                         "status": ctx.client.status(name).to_json()}})
    else:
        print(str(failed), file=sys.stderr)
    return 1


# -- snapshot and offsets -----------------------------------------------------------------------------


def run_snapshot(args: argparse.Namespace) -> int:
    def body(ctx: Context) -> int:
        refuse_write_only(ctx.configs, [args.name])  # nothing of a write-only system is captured
        config = ctx.client.get_config(args.name)
        state = ctx.client.status(args.name)
        topic = notifications.notification_topic(config)
        wait = topic is not None and not args.no_wait
        since = follow.positions_before(ctx.kafka, topic) if wait and topic else {}
        request = signals.request_incremental_snapshot(args.name, config, args.tables, ctx.root,
                                                       surrogate_key=args.surrogate_key)
        prefix = config.get("topic.prefix", "<prefix>")
        topics = [f"{prefix}.{t}" for t in request.data_collections]
        document = {**request.to_json(), "status": state.to_json(), "topics": topics, "notifications": topic}
        ctx.text(f"{args.name}: incremental snapshot requested (signal {request.id} in "
                 f"{request.signal_table}) for {', '.join(request.data_collections)}")
        ctx.text(f"read events (op r) arrive on {', '.join(topics)}")
        if not state.running:
            ctx.text(f"note: {args.name} is not running ({deploy.summary(state)}); "
                     "it reads the signal once it runs")
        if topic is None:
            note = (f"{args.name} has no sink notification channel, so the snapshot is not followed: how it ends "
                    "(a table without a primary key, a failed read) shows only in Connect's log; fix: "
                    + notifications.enable_fix(config, str(ctx.root / "connectors" / f"{args.name}.yaml")))
            ctx.say(f"note: {note}")
            document["note"] = note
        if not wait or topic is None:
            if ctx.json:
                ctx.emit({**document, **notifications.Outcome(state="requested", exit_code=0).to_json()})
            return 0
        ctx.text(f"following it on {topic} (--timeout {args.timeout:.0f}s; Ctrl-C stops following, not the "
                 "snapshot)")
        follower = notifications.SnapshotFollower(request.id, request.data_collections, connector=args.name)
        outcome = follow.follow(ctx.kafka, ctx.client, follower, topic=topic, since=since, timeout=args.timeout,
                                say=ctx.say if ctx.json else _progress)
        if ctx.json:
            ctx.emit({**document, **outcome.to_json()})
        elif outcome.exit_code == 0:
            read = ", ".join(f"{s.table} {s.rows} row(s) ({s.status})" for s in outcome.scans)
            ctx.text(f"{args.name}: incremental snapshot completed: {read}")
        else:
            print(f"{args.name}: incremental snapshot {outcome.state}: {outcome.problem}\n{outcome.remedy}",
                  file=sys.stderr)
        return outcome.exit_code

    return _with_context(args, body)


def _progress(line: str) -> None:
    print(f"  {line}", flush=True)


def run_offsets(args: argparse.Namespace) -> int:
    def body(ctx: Context) -> int:
        message = None
        if args.reset:
            ctx.client.status(args.name)
            message = deploy.reset_offsets(ctx.client, args.name, say=ctx.say, timeout=args.timeout)
        offsets = ctx.client.offsets(args.name)
        if ctx.json:
            ctx.emit({"name": args.name, "reset": bool(args.reset), "message": message, "offsets": offsets})
            return 0
        if args.reset:
            ctx.text(f"{args.name}: offsets reset and the connector resumed; it starts over with a snapshot")
        if not offsets:
            ctx.text(f"{args.name}: no offsets stored yet")
        for entry in offsets:
            ctx.text(f"{json.dumps(entry.get('partition'), sort_keys=True)} -> "
                     f"{json.dumps(entry.get('offset'), sort_keys=True)}")
        return 0

    return _with_context(args, body)
