"""Checks a rendered connector config: ours first (no Connect needed), then Kafka Connect's own.

Ours: placeholders left unresolved, required keys missing, keys the connector class does not know,
values of the wrong type, secrets written literally instead of through a config provider, and options whose
values Isthmus's decoding relies on changed (Debezium's placeholder for an unsent value), and two MariaDB
connectors that would join the same server's replication as one ``database.server.id``. Against the columns
files of the systems a connector captures: a table it names that does not exist and, on PostgreSQL, what it
would capture wrongly of partitioned tables and generated columns (:func:`check_capture`), and (with the
database at hand) a publication that publishes a partitioned table's changes as its partitions'
(:func:`check_publication`). A PostgreSQL table its publication would publish without a replica identity, whose
every UPDATE and DELETE PostgreSQL then refuses (:func:`check_identities`, over the live catalog or the columns
files). Connect's validation runs only on a config that passes ours, so its answers are about real values, not our
leftovers.
:func:`warnings` names what a valid config likely does not mean (truncates skipped unseen); :func:`keyless_warnings`
and :func:`interval_warnings` what it would send of its tables so (no key, INTERVALs as microseconds).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

from streams.capture import notifications, schema_history
from streams.capture.client import ConnectClient
from streams.capture.configs import LocalConnector
from streams.capture.filters import CaptureFilter
from streams.capture.options import KINDS, MARIADB, POSTGRES, is_provider_reference
from streams.catalog.model import BinlogServer, Catalog, Column, Table, TableIdentity
from streams.catalog.postgres import Publication
from streams.codecs.debezium import unavailable
from streams.config_files.problem import Problem, shown

_WHOLE = re.compile(r"^-?[0-9]+$")
_INT_RANGE = {"INT": 2**31, "SHORT": 2**15, "LONG": 2**63}


def check_local(connector: LocalConnector) -> list[Problem]:
    problems = list(connector.problems)
    config = connector.config
    connector_class = config.get("connector.class")
    kind = KINDS.get(connector_class or "")
    if kind is None:
        known = ", ".join(sorted(KINDS))
        message = (f"{connector_class!r} is not a connector class Isthmus knows" if connector_class
                   else "is missing")
        problems.append(Problem(file=connector.source_of("connector.class"), line=connector.line_of("connector.class"),
                                field="connector.class", message=message, fix=f"set it to one of: {known}"))
        return problems

    for key in kind.required:
        if key not in config:
            problems.append(Problem(file=connector.path, line=None, field=key,
                                    message=f"is required by {kind.label} and missing",
                                    fix=f"add `{key}: <value>` under `config:`"))
    for key, value in config.items():
        source = connector.source_of(key)
        if key == "name":
            continue
        if not kind.knows(key):
            close = difflib.get_close_matches(key, list(kind.options), n=1, cutoff=0.75)
            hint = f"did you mean `{close[0]}`? Otherwise remove it" if close else "remove it or fix its name"
            problems.append(Problem(file=source, line=connector.line_of(key), field=key,
                                    message=f"is not an option of {kind.label}", fix=hint))
            continue
        if "{{" in value:
            continue
        if kind.is_secret(key):
            if not is_provider_reference(value):
                problems.append(Problem(
                    file=source, line=connector.line_of(key), field=key, message="holds a secret written literally",
                    fix="never commit secrets: write a Kafka Connect config provider reference instead, "
                        "e.g. ${file:{{secrets_file}}:<key>} or ${env:<VARIABLE>}"))
            continue
        problem = _type_problem(kind.type_of(key), value)
        if problem:
            problems.append(Problem(file=source, line=connector.line_of(key), field=key, message=problem[0],
                                    fix=problem[1]))
        elif key == unavailable.OPTION and value != unavailable.PLACEHOLDER:
            problems.append(Problem(
                file=source, line=connector.line_of(key), field=key,
                message=f"sets Debezium's placeholder for an unsent value to {value!r}; Isthmus recognises only the "
                        f"default {unavailable.PLACEHOLDER!r}, and would take any other for the column's value",
                fix="remove the option"))
    return problems


def _type_problem(type_name: str, value: str) -> tuple[str, str] | None:
    if is_provider_reference(value):
        return None
    if type_name in _INT_RANGE:
        if not _WHOLE.match(value.strip()):
            return f"must be a whole number, not {value!r}", "write digits only, e.g. 10000"
        if abs(int(value)) >= _INT_RANGE[type_name]:
            return f"{value} is out of range for a {type_name.lower()}", "use a smaller number"
    elif type_name == "BOOLEAN" and value.strip().lower() not in ("true", "false"):
        return f"must be true or false, not {value!r}", "write true or false (unquoted)"
    elif type_name == "DOUBLE":
        try:
            float(value)
        except ValueError:
            return f"must be a number, not {value!r}", "write a number, e.g. 0.5"
    return None


#: Debezium's ``skipped.operations`` when a config leaves it out: truncates skipped (every connector, 3.x).
SKIPPED_OPERATIONS = "skipped.operations"
DEFAULT_SKIPPED = "t"


#: MariaDB Connector/J's option (a snapshot reads through it): ``true`` (its default) reads a ``YEAR`` as a date.
YEAR_IS_DATE = "driver.yearIsDateType"


def warnings(connector: LocalConnector) -> list[Problem]:
    """What a config allows but likely does not mean; it stays valid (``isthmus connectors validate`` prints them).

    ``skipped.operations`` that skips truncates (Debezium's default, ``t``): a ``TRUNCATE`` of a captured table
    then sends no event at all, and no flow can say it happened (``streams/flows/truncates.py``). A MariaDB
    connector whose driver reads ``YEAR`` as a date: a ``YEAR`` 0000 fails its snapshot. A JSON value converter
    that writes a column's default for a null. No sink notification channel: `isthmus connectors snapshot` cannot
    follow a snapshot, whose failures then show only in Connect's log."""
    if connector.config.get("connector.class") not in KINDS:
        return []  # not a connector Isthmus knows: its own checks say so
    return [*_truncates_skipped(connector), *_year_as_date(connector), *_null_as_default(connector),
            *_no_notifications(connector), *_captured_ddl_only(connector)]


#: Debezium's binlog option (default false): keep in the schema history only the DDL of the tables captured then.
CAPTURED_DDL_ONLY = "schema.history.internal.store.only.captured.tables.ddl"


def _captured_ddl_only(connector: LocalConnector) -> list[Problem]:
    """A MariaDB connector whose history keeps only the captured tables' DDL: a table created before it is added to
    ``table.include.list`` has no schema there, and the task FAILS at its first change (a trial's did)."""
    key = CAPTURED_DDL_ONLY
    value = connector.config.get(key)
    if connector.config.get("connector.class") != MARIADB or value is None or value.strip().lower() != "true":
        return []
    return [Problem(
        file=connector.source_of(key), line=connector.line_of(key), field=key,
        message="is 'true', so the schema history keeps only the DDL of the tables captured when it is read: a table "
                "created first and added to table.include.list later has no schema there, and the task FAILS at its "
                "first change (`Encountered change event for table ... whose schema isn't known to this "
                "connector`), which only `isthmus connectors offsets <name> --reset` (a new snapshot of every "
                "captured table) mends",
        fix=f"set `{key}: false` (Debezium's default) before adding a table: the history then keeps the DDL of "
            "every table of the captured databases (connect-configs/README.md, \"Adding a table to a MariaDB "
            "capture\")")]


def _no_notifications(connector: LocalConnector) -> list[Problem]:
    config = connector.config
    if notifications.notification_topic(config) is not None:
        return []
    channels = config.get(notifications.CHANNELS)
    if channels is not None and notifications.SINK in {c.strip() for c in channels.split(",")}:
        key, said = notifications.SINK_TOPIC, "is not set, so the sink notification channel has no topic"
    else:
        key = notifications.CHANNELS
        said = "is not set" if channels is None else f"is {channels!r}, without the sink channel"
    return [Problem(
        file=connector.source_of(key), line=connector.line_of(key), field=key,
        message=f"{said}: `isthmus connectors snapshot` cannot follow an incremental snapshot, and a table it "
                "skips (no primary key, a failed read) is said only in Connect's log",
        fix=notifications.enable_fix(config, "the connector's file"))]


#: JsonConverter's option (Kafka 3.5+): ``true`` (its default) writes a field's schema default for a null.
REPLACE_NULL = "value.converter.replace.null.with.default"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


def _null_as_default(connector: LocalConnector) -> list[Problem]:
    if connector.config.get("value.converter") != JSON_CONVERTER:
        return []  # another converter (or the worker's, which the stack sets): not ours to judge
    return _not_false(
        connector, REPLACE_NULL,
        "so JsonConverter writes a nullable column's DEFAULT in place of a null it carries (a column `DEFAULT "
        "'emea'` set to NULL arrives as 'emea', a `DEFAULT now()` as 1970-01-01): the flows cannot tell it from "
        "the value", "a null then arrives as null")


def _year_as_date(connector: LocalConnector) -> list[Problem]:
    if connector.config.get("connector.class") != MARIADB:
        return []
    return _not_false(
        connector, YEAR_IS_DATE,
        "so a snapshot reads a YEAR column as a date: a YEAR of 0000 fails it (the initial snapshot's task FAILED "
        "with IllegalArgumentException at java.sql.Date.valueOf; an incremental snapshot sends nothing and only "
        "Connect's log says why)", "the snapshot then reads YEAR as the number the binlog sends")


def _not_false(connector: LocalConnector, key: str, why: str, then: str) -> list[Problem]:
    """The warning for an option that should be ``false`` and is not (unset, or a placeholder left alone)."""
    value = connector.config.get(key)
    if value is not None and (value.strip().lower() == "false" or "{{" in value or is_provider_reference(value)):
        return []
    said = "is not set" if value is None else f"is {value!r}"
    return [Problem(file=connector.source_of(key), line=connector.line_of(key), field=key, message=f"{said}, {why}",
                    fix=f"set `{key}: false`: {then} (connect-configs/README.md)")]


def _truncates_skipped(connector: LocalConnector) -> list[Problem]:
    config, key = connector.config, SKIPPED_OPERATIONS
    value = config.get(key)
    if value is not None and ("{{" in value or is_provider_reference(value)):
        return []
    skipped = {op.strip().lower() for op in (DEFAULT_SKIPPED if value is None else value).split(",")}
    if "t" not in skipped:
        return []
    said = (f"is not set, so Debezium skips truncates (its default is {DEFAULT_SKIPPED!r})" if value is None
            else f"is {value!r}, which skips truncates")
    return [Problem(
        file=connector.source_of(key), line=connector.line_of(key), field=key,
        message=f"{said}: a TRUNCATE of a captured table sends no event, so Isthmus never learns of it and every "
                "record its rows made stays in the targets, unseen",
        fix="set `skipped.operations: none`: a truncate then reaches the flows, which log it, count it and hold it "
            "on isthmus.holds (they do not propagate it); or keep truncates skipped knowingly (README.md, "
            "\"TRUNCATE\")")]


def check_with_connect(connector: LocalConnector, client: ConnectClient) -> list[Problem]:
    """Kafka Connect's ``PUT /connector-plugins/{class}/config/validate``; it also tries the database."""
    problems = []
    for error in client.validate(connector.connector_class, connector.config):
        source = connector.source_of(error.key)
        if error.allowed:
            fix = f"use one of: {', '.join(error.allowed)}"
        elif error.key in connector.config:
            fix = f"correct `{error.key}` in {shown(source)}"
        else:
            fix = f"add `{error.key}` under `config:`"
        for message in error.errors:
            problems.append(Problem(file=source, line=connector.line_of(error.key), field=error.key,
                                    message=f"Kafka Connect: {message}",
                                    fix=fix, found_by="connect"))
    return problems


_LITERAL_TABLE = re.compile(r"^([A-Za-z0-9_$]+)\\?\.([A-Za-z0-9_$]+)$")


def check_tables(connector: LocalConnector, catalogs: Iterable[Catalog]) -> list[Problem]:
    """Each table ``table.include.list`` names literally (``schema.table``, not a pattern) in the namespace of a
    system the connector captures is a table of that system's columns file: a misspelt table is captured by no
    one, silently. ``catalogs``: the columns files of the systems whose connector this is."""
    by_namespace = {catalog.namespace.lower(): catalog for catalog in catalogs}
    listed = connector.config.get("table.include.list", "")
    problems = []
    for pattern in (p.strip() for p in listed.split(",") if p.strip()):
        literal = _LITERAL_TABLE.match(pattern)
        catalog = by_namespace.get(literal.group(1).lower()) if literal else None
        if literal is None or catalog is None:
            continue
        # a partition is recorded under its parent; check_capture says what capturing one does
        tables = {name.lower() for name in catalog.tables} | {
            partition.lower() for table in catalog.tables.values() for partition in table.partitions or ()}
        if literal.group(2).lower() not in tables:
            origin = shown(catalog.path) if catalog.path else f"{catalog.system}'s columns file"
            problems.append(Problem(
                file=connector.source_of("table.include.list"), line=connector.line_of("table.include.list"),
                field="table.include.list",
                message=f"{pattern} is not a table of {catalog.system} ({origin}: {', '.join(sorted(catalog.tables))})",
                fix=f"correct the name; if the table is new, run `isthmus mappings discover {catalog.system}` first"))
    return problems


#: Debezium's ``publication.name`` when the connector file sets none.
DEFAULT_PUBLICATION = "dbz_publication"
_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*$")


def check_capture(connector: LocalConnector, catalogs: Iterable[Catalog]) -> list[Problem]:
    """What a PostgreSQL connector would capture wrongly of its systems' tables, as their columns files record them
    (``catalogs``), each a loss Debezium does not report:

    - a partitioned table without ``publish.via.partition.root: true``: PostgreSQL publishes its changes as its
      partitions', which the connector drops as not captured, so after the snapshot none arrives;
    - a partition captured (named, or matched by a pattern): beside its parent its rows are snapshotted twice, and
      alone it is no table a mapping can read (the columns file records it under its parent);
    - a generated column the column lists do not leave out: pgoutput never sends it, the snapshot reads it, and an
      incremental snapshot of the table fails in Connect, skipped while the connector stays RUNNING.

    Nothing is said of a connector whose lists cannot be read exactly (:class:`CaptureFilter`)."""
    capture = CaptureFilter.of(connector.config, "postgresql") if connector.connector_class == POSTGRES else None
    if capture is None:
        return []
    problems: list[Problem] = []
    for catalog, table in _postgres_tables(catalogs):
        namespace = catalog.namespace
        captured = capture.captures(namespace, table.name)
        for partition in table.partitions or ():
            schema, _, name = partition.rpartition(".")
            if capture.captures(schema or namespace, name):
                problems.append(_partition_captured(connector, f"{schema or namespace}.{name}",
                                                    f"{namespace}.{table.name}", captured))
        if not captured:
            continue
        if table.partitioned and not _via_root(connector):
            problems.append(_not_via_root(connector, namespace, table))
        for column in table.columns.values():
            if column.generated is not None and capture.column_left_out_by(namespace, table.name, column.name) is None:
                problems.append(_generated_captured(connector, capture, f"{namespace}.{table.name}", column))
    return problems


def captured_partitioned(connector: LocalConnector, catalogs: Iterable[Catalog]) -> list[str]:
    """The partitioned tables a PostgreSQL connector captures (``schema.table``), as the columns files record them:
    the tables whose changes depend on its publication's ``publish_via_partition_root``."""
    capture = CaptureFilter.of(connector.config, "postgresql") if connector.connector_class == POSTGRES else None
    if capture is None:
        return []
    return [f"{catalog.namespace}.{table.name}" for catalog, table in _postgres_tables(catalogs)
            if table.partitioned and capture.captures(catalog.namespace, table.name)]


def check_publication(connector: LocalConnector, catalogs: Iterable[Catalog], via_root: bool | None) -> list[Problem]:
    """The connector's publication exists in the database with ``publish_via_partition_root = false``
    (``via_root``, read from ``pg_publication.pubviaroot``; None when it does not exist or was not read) while the
    connector captures a partitioned table. Debezium sets the option only when it creates the publication and never
    alters an existing one, so ``publish.via.partition.root: true`` in the file changes nothing here: the
    partitioned tables' changes keep arriving as their partitions', and are dropped."""
    tables = captured_partitioned(connector, catalogs)
    if via_root is not False or not tables:
        return []
    key = "publication.name"
    publication = connector.config.get(key, DEFAULT_PUBLICATION)
    database = connector.config.get("database.dbname", "its database")
    return [Problem(
        file=connector.source_of(key), line=connector.line_of(key), field=key,
        message=f"publication {publication} exists in database {database} with publish_via_partition_root = false "
                f"(pg_publication.pubviaroot), so the changes of the partitioned table{'s' if len(tables) > 1 else ''} "
                f"{', '.join(tables)} are published as their partitions' and dropped: after the snapshot none arrives. "
                "Debezium sets the option only when it creates the publication and never alters an existing one, "
                "whatever publish.via.partition.root says",
        fix=f"run `ALTER PUBLICATION {_identifier(publication)} SET (publish_via_partition_root = true);` in database "
            f"{database} as the publication's owner, then take an incremental snapshot of "
            f"{', '.join(tables)} (`isthmus connectors snapshot {connector.name} --tables {','.join(tables)}`) for "
            "the changes that were dropped")]


#: Where the server settings and grants a binlog connector needs are listed.
SERVER_SECTION = 'connect-configs/README.md, "A MariaDB or MySQL server of your own"'
#: ``GRANT <privileges> ON <object> TO ...`` as SHOW GRANTS words it.
_GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON (?P<object>\S+) TO ", re.IGNORECASE)
#: What a binlog connector's user needs on the whole server (each a set of privileges any one of which will do),
#: and on the captured database (SELECT and LOCK TABLES, there or on every database).
_GLOBAL_NEEDS = (("RELOAD",), ("REPLICATION SLAVE",), ("BINLOG MONITOR", "REPLICATION CLIENT", "SUPER"))
_DATABASE_NEEDS = ("SELECT", "LOCK TABLES")


def check_binlog_server(connector: LocalConnector, server: BinlogServer) -> list[Problem]:
    """A MariaDB connector's server as Debezium will find it at start (``server``, read with the connector's own
    connection): a binlog that is off, not row-based or without full row images, and a user without the grants the
    snapshot and the binlog reader need. Each fails the task seconds after a deploy that Connect's own validation
    passed."""
    key = "database.hostname"

    def problem(message: str, fix: str) -> Problem:
        return Problem(file=connector.source_of(key), line=connector.line_of(key), field=key, message=message, fix=fix)

    problems = []
    settings = [("log_bin", "ON" if server.log_bin else "OFF", "ON"),
                ("binlog_format", server.binlog_format, "ROW"), ("binlog_row_image", server.binlog_row_image, "FULL")]
    for name, value, wanted in settings:
        if value != wanted:
            problems.append(problem((
                f"the server {connector.name} reads has {name}={value}, and Debezium refuses to start on anything but "
                f"{wanted} (the task FAILED seconds after the deploy)"), (
                f"set {name}={wanted} in the server's options file and globally (`SET GLOBAL {name}={wanted}` where "
                f"it may be changed at run time), and keep applications from setting it per session "
                f"({SERVER_SECTION})")))
    missing = missing_grants(server.grants, database=connector.config.get("database.include.list", "").split(",")[0],
                             signal=connector.config.get("signal.data.collection"))
    if missing:
        user = connector.config.get("database.user", "the connector's user")
        problems.append(problem((
            f"{user} lacks {', '.join(missing)} on the server {connector.name} reads (SHOW GRANTS): the snapshot or "
            "the binlog reader fails on each, one at a time, and a failed first snapshot leaves an empty offset that "
            "only `isthmus connectors offsets --reset` clears"), (
            f"grant them to {user} ({SERVER_SECTION}), then deploy")))
    return problems


def missing_grants(grants: Sequence[str], *, database: str, signal: str | None) -> list[str]:
    """The privileges a binlog connector's user needs that ``grants`` (SHOW GRANTS' statements) do not give it:
    RELOAD, REPLICATION SLAVE and BINLOG MONITOR (or REPLICATION CLIENT) on ``*.*``; SELECT and LOCK TABLES on
    ``database``; INSERT on the ``signal`` table (``<database>.<table>``). Empty when a grant names a role, whose
    privileges SHOW GRANTS does not list: they cannot be judged here."""
    held: dict[str, set[str]] = {}
    for grant in grants:
        found = _GRANT.match(grant.strip())
        if found is None:
            if grant.strip().upper().startswith("GRANT ") and " ON " not in grant.upper():
                return []  # a role granted: its privileges are not in these lines
            continue
        target = found["object"].replace("`", "").lower()
        privileges = {p.strip().upper() for p in re.sub(r"\([^)]*\)", "", found["privileges"]).split(",")}
        held.setdefault(target, set()).update(privileges)

    def has(privilege: str, *targets: str) -> bool:
        return any(privilege in held.get(t, set()) or "ALL PRIVILEGES" in held.get(t, set()) or
                   "ALL" in held.get(t, set()) for t in targets)

    missing = [" or ".join(options) + " ON *.*" for options in _GLOBAL_NEEDS if not any(has(o, "*.*") for o in options)]
    db = database.strip().lower()
    if db and not any(ch in db for ch in "*?[\\.+(|^$"):  # a pattern names no one database to judge
        missing += [f"{p} ON {db}.*" for p in _DATABASE_NEEDS if not has(p, "*.*", f"{db}.*")]
    if signal and "." in signal:
        schema, table = signal.lower().split(".", 1)
        if not has("INSERT", "*.*", f"{schema}.*", f"{schema}.{table}"):
            missing.append(f"INSERT ON {schema}.{table} (Debezium writes a snapshot's watermarks there)")
    return missing


def _postgres_tables(catalogs: Iterable[Catalog]) -> list[tuple[Catalog, Table]]:
    return [(catalog, table) for catalog in catalogs if catalog.engine == "postgresql"
            for table in catalog.tables.values()]


def _via_root(connector: LocalConnector) -> bool:
    return connector.config.get("publish.via.partition.root", "false").strip().lower() == "true"


def _identifier(name: str) -> str:
    """A PostgreSQL identifier as SQL must write it: quoted unless it is lower case, letters, digits and _."""
    return name if _PLAIN_IDENTIFIER.match(name) else '"' + name.replace('"', '""') + '"'


def _not_via_root(connector: LocalConnector, namespace: str, table: Table) -> Problem:
    key = "publication.name"
    publication = _identifier(connector.config.get(key, DEFAULT_PUBLICATION))
    setting = connector.config.get("publish.via.partition.root")
    said = ("publish.via.partition.root is not set (Debezium's default: false)" if setting is None
            else f"publish.via.partition.root is {setting}")
    partitions = ", ".join(table.partitions or ()) or "none yet"
    return Problem(
        file=connector.source_of("publish.via.partition.root"), line=connector.line_of("publish.via.partition.root"),
        field="publish.via.partition.root",
        message=f"{namespace}.{table.name} is a partitioned table (partitions: {partitions}) and {said}: PostgreSQL "
                "then publishes its changes as its partitions', which the connector drops as not captured, so after "
                "the snapshot none of its changes arrives (the transaction topic shows BEGIN and END with "
                "event_count 0)",
        fix=f"set `publish.via.partition.root: true`; Debezium applies it only when it creates the publication, so if "
            f"publication {publication} exists already, also run `ALTER PUBLICATION {publication} SET "
            "(publish_via_partition_root = true);` (validate checks the publication when it can reach the database)")


def _partition_captured(connector: LocalConnector, partition: str, parent: str, parent_captured: bool) -> Problem:
    if parent_captured:
        message = (f"{partition} is a partition of {parent}, which the connector captures too: the partition's rows "
                   "are the parent's, so the snapshot reads them twice, onto two topics")
        fix = (f"take {partition} out of table.include.list (or narrow the pattern that matches it): with "
               f"publish.via.partition.root: true the topic of {parent} carries every partition's rows and changes")
    else:
        message = (f"{partition} is a partition of {parent}: the columns file records a partition under its parent, "
                   "so no mapping reads it")
        fix = (f"capture {parent} instead, with publish.via.partition.root: true: its topic carries every partition's "
               "rows and changes")
    return Problem(file=connector.source_of("table.include.list"), line=connector.line_of("table.include.list"),
                   field="table.include.list", message=message, fix=fix)


def _generated_captured(connector: LocalConnector, capture: CaptureFilter, table: str, column: Column) -> Problem:
    key = "column.include.list" if capture.columns_included is not None else "column.exclude.list"
    qualified = f"{table}.{column.name}"
    fix = (f"take {qualified} out of column.include.list" if key == "column.include.list"
           else f"add {qualified} to column.exclude.list")
    return Problem(
        file=connector.source_of(key), line=connector.line_of(key), field=key,
        message=f"{qualified} is a generated column (GENERATED ALWAYS AS (...) {str(column.generated).upper()}): "
                "PostgreSQL's logical decoding (pgoutput) never sends it in a change, but the snapshot reads it, and "
                f"an incremental snapshot of {table} then fails in Connect (\"Column '{column.name}' not found in "
                "result set\"), skipped while the connector stays RUNNING",
        fix=f"{fix} (a regular expression of schema.table.column); a mapping computes the value from the columns it "
            "is generated from")


#: Debezium's ``publication.autocreate.mode`` when a config leaves it out: it creates the publication FOR ALL TABLES.
AUTOCREATE = "publication.autocreate.mode"
DEFAULT_AUTOCREATE = "all_tables"


def check_identities(connector: LocalConnector, tables: Sequence[TableIdentity], existing: Publication | None, *,
                     publication_read: bool) -> list[Problem]:
    """The tables whose updates and deletes a PostgreSQL connector's publication publishes (once deployed, or as it
    exists) that have no replica identity (:attr:`TableIdentity.unidentified`): PostgreSQL then refuses every UPDATE
    and DELETE of them, the source application's own too ("cannot delete from table ... because it does not have a
    replica identity and publishes deletes"). ``tables``: those of the database, read live, or those the columns
    files record; ``existing``: the publication as it is in the database (None when it does not exist, or was not
    read: ``publication_read`` False, and then only the captured tables are judged).

    Which tables are published, as Debezium makes its publication: ``filtered`` creates it, or alters one that
    exists, to the captured tables; ``all_tables`` (the default) creates it FOR ALL TABLES; an existing publication
    is otherwise used as it is, with its own tables and operations."""
    if connector.connector_class != POSTGRES:
        return []
    scope = _published(connector, tables, existing, publication_read)
    if scope is None:
        return []
    published, key, how = scope
    problems = []
    for table in published:
        lacking = table.unidentified
        if lacking is None:
            continue
        name = f"{table.qualified} (a partition of {table.root})" if table.root else table.qualified
        sql_name = f"{_identifier(table.namespace)}.{_identifier(table.name)}"
        problems.append(Problem(
            file=connector.source_of(key), line=connector.line_of(key), field=key,
            message=f"{name} has {lacking}: {how}, and PostgreSQL then refuses every UPDATE and DELETE of it, the "
                    f"source application's own too (ERROR: cannot update table \"{table.name}\" because it does not "
                    "have a replica identity and publishes updates)",
            fix=f"run `ALTER TABLE {sql_name} REPLICA IDENTITY FULL;` (its updates and deletes then carry the whole "
                "old row, Debezium's before-image, at the cost of more WAL), or give it a primary key or `ALTER TABLE "
                f"{sql_name} REPLICA IDENTITY USING INDEX <a unique index on NOT NULL columns>;`, "
                f"{_leave_out(connector, key, table)}; then re-run `isthmus mappings discover` for its system"))
    return problems


def _published(connector: LocalConnector, tables: Sequence[TableIdentity], existing: Publication | None,
               publication_read: bool) -> tuple[list[TableIdentity], str, str] | None:
    """The tables whose updates and deletes the connector's publication publishes, the key that decides it and how
    it does; None when the connector's lists or mode cannot be read exactly."""
    config = connector.config
    name = config.get("publication.name", DEFAULT_PUBLICATION)
    mode = config.get(AUTOCREATE, DEFAULT_AUTOCREATE).strip().lower()
    capture = CaptureFilter.of(config, "postgresql")
    if "{{" in mode or is_provider_reference(mode) or capture is None:
        return None
    if existing is not None and not existing.updates_or_deletes:
        return [], AUTOCREATE, ""  # it publishes inserts only, and Debezium keeps its operations when it alters it
    if existing is not None and (mode != "filtered" or existing.all_tables):
        if existing.all_tables:
            return list(tables), "publication.name", (f"publication {name} exists FOR ALL TABLES, publishing the "
                                                      "updates and deletes of every table of the database")
        return ([t for t in tables if t.qualified in existing.tables or t.root in existing.tables],
                "publication.name", f"publication {name} exists and publishes its updates and deletes "
                                    f"(publication.autocreate.mode {mode}: Debezium uses it as it is)")
    if mode == "all_tables" and publication_read:
        said = "not set (Debezium's default: all_tables)" if AUTOCREATE not in config else "all_tables"
        return list(tables), AUTOCREATE, (f"publication.autocreate.mode is {said}, so Debezium creates publication "
                                          f"{name} FOR ALL TABLES, publishing the updates and deletes of every table "
                                          "of the database, captured or not")
    if mode not in ("filtered", "all_tables"):
        return [], AUTOCREATE, ""  # disabled without a publication: Debezium refuses to start; no_tables: none
    captured = [t for t in tables if _captures(capture, t)]
    return captured, "table.include.list", (f"the connector captures it, so its publication {name} publishes its "
                                            "updates and deletes")


def _captures(capture: CaptureFilter, table: TableIdentity) -> bool:
    """Whether the connector captures ``table``, or the partitioned table whose partition it is."""
    if capture.captures(table.namespace, table.name):
        return True
    return table.root is not None and capture.captures(*table.root.split(".", 1))


def _leave_out(connector: LocalConnector, key: str, table: TableIdentity) -> str:
    publication = _identifier(connector.config.get("publication.name", DEFAULT_PUBLICATION))
    if key == AUTOCREATE:
        return ("or set `publication.autocreate.mode: filtered`, so that the publication holds the captured tables "
                "only")
    if key == "publication.name":
        return (f"or take it out of the publication (`ALTER PUBLICATION {publication} DROP TABLE "
                f"{table.root or table.qualified};` as its owner)")
    return f"or leave {table.root or table.qualified} out of table.include.list"


#: Debezium's option for how a PostgreSQL INTERVAL is sent; ``numeric`` (its default) is microseconds.
INTERVAL_MODE = "interval.handling.mode"


def interval_warnings(connector: LocalConnector, tables: Sequence[TableIdentity]) -> list[Problem]:
    """One warning per table with INTERVAL columns that a PostgreSQL connector captures with
    ``interval.handling.mode`` numeric (or unset): each interval then arrives as microseconds with a month counted as
    30.4375 days, its months and days lost."""
    config = connector.config
    value = config.get(INTERVAL_MODE)
    capture = CaptureFilter.of(config, "postgresql") if connector.connector_class == POSTGRES else None
    if capture is None or (value is not None and value.strip().lower() != "numeric"):
        return []
    said = "is not set (Debezium's default: numeric)" if value is None else "is numeric"
    warned: dict[str, tuple[str, ...]] = {}
    for table in tables:
        if table.intervals and _captures(capture, table):
            warned.setdefault(table.root or table.qualified, table.intervals)
    return [Problem(
        file=connector.source_of(INTERVAL_MODE), line=connector.line_of(INTERVAL_MODE), field=INTERVAL_MODE,
        message=f"{said}, so the INTERVAL column{'s' if len(columns) > 1 else ''} {', '.join(columns)} of {name} "
                f"arrive{'' if len(columns) > 1 else 's'} as microseconds in which a month is 30.4375 days and a "
                "year 365.25: '1 mon 2 days' becomes 32.4375 days, and the interval's own months and days are lost",
        fix=f"set `{INTERVAL_MODE}: string`: Debezium then sends ISO 8601 text ('1 mon 2 days' as P0Y1M2DT0H0M0S), "
            "months kept exact, which a mapping reads as text (`compute: \"str(<column>)\"`; the columns file's "
            "INTERVAL is checked as a number); or keep numeric knowingly (connect-configs/README.md, \"Types to "
            "expect\")")
        for name, columns in warned.items()]


#: Debezium's option for how a NUMERIC is sent; ``precise`` (its default) sends null for a NaN or an infinity.
DECIMAL_MODE = "decimal.handling.mode"


def nan_warnings(connector: LocalConnector, tables: Sequence[TableIdentity]) -> list[Problem]:
    """One warning per captured PostgreSQL table with NUMERIC columns that no CHECK keeps ``'NaN'`` (and the
    infinities) out of, under ``decimal.handling.mode`` precise (or unset): Debezium sends null for such a value
    (a WARN in Connect's log its only trace), so the flows write null over the value in every other system; and
    into a NOT NULL column that null fails the connector's task (``DataException: Invalid value: null used for
    required field``), stopping the capture of the whole database at that row, a restart failing the same way."""
    config = connector.config
    value = config.get(DECIMAL_MODE)
    capture = CaptureFilter.of(config, "postgresql") if connector.connector_class == POSTGRES else None
    if capture is None or (value is not None and value.strip().lower() != "precise"):
        return []
    warned: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for table in tables:
        if table.numerics and _captures(capture, table):
            warned.setdefault(table.root or table.qualified, (table.numerics, table.required_numerics))
    said = "is not set (Debezium's default: precise)" if value is None else "is precise"
    problems = []
    for name, (columns, required) in warned.items():
        nullable = [c for c in columns if c not in required]
        effects = []
        if nullable:
            effects.append(f"{', '.join(nullable)} {'arrive' if len(nullable) > 1 else 'arrives'} as null, with a WARN "
                           "in Connect's log its only trace, and the flows write that null over the value in every "
                           "system it is synced to")
        if required:
            effects.append(f"{', '.join(required)} {'are' if len(required) > 1 else 'is'} NOT NULL, so the null fails "
                           "the connector's task at the first such row (DataException: Invalid value: null used for "
                           "required field) and the capture of the whole database stops there, a restart failing "
                           "the same way")
        checks = "; ".join(f"ALTER TABLE {name} ADD CHECK ({_identifier(c)} NOT IN ('NaN', 'Infinity', "
                           "'-Infinity'))" for c in columns)
        problems.append(Problem(
            file=connector.source_of(DECIMAL_MODE), line=connector.line_of(DECIMAL_MODE), field=DECIMAL_MODE,
            message=(f"{said}, and no "
                     f"CHECK keeps 'NaN' (or an infinity) out of the NUMERIC column{'s' if len(columns) > 1 else ''} "
                     f"{', '.join(columns)} of {name}: Debezium sends null for such a value, so "
                     + "; and ".join(effects)),
            fix=(f"set each row that holds one to a number or NULL, then {checks} (mappings/README.md, \"Values a "
                 "change does not carry\"); or, where a table cannot hold such a check, take the column out of the "
                 "capture (column.exclude.list)")))
    return problems


KEY_COLUMNS = "message.key.columns"


def keyless_warnings(connector: LocalConnector, tables: Sequence[TableIdentity]) -> list[Problem]:
    """One warning per captured table without a primary key that ``message.key.columns`` does not give a key:
    Debezium keys a change event by the primary key, so its events have none (a PostgreSQL table without a replica
    identity is refused by :func:`check_identities` instead)."""
    config = connector.config
    engine = {POSTGRES: "postgresql", MARIADB: "mariadb"}.get(connector.connector_class or "")
    capture = CaptureFilter.of(config, engine) if engine else None
    keyed = _key_columns(config.get(KEY_COLUMNS, ""))
    if capture is None or keyed is None:
        return []
    return [Problem(
        file=connector.source_of(KEY_COLUMNS), line=connector.line_of(KEY_COLUMNS), field=KEY_COLUMNS,
        message=f"{table.qualified} has no primary key, so Debezium sends its changes without a key: nothing in an "
                "event says which row it changed, and an incremental snapshot (`isthmus connectors snapshot`) skips "
                "the table unless given --surrogate-key",
        fix=f"set `{KEY_COLUMNS}: {table.qualified}:<columns that identify a row>` (several tables separated by ;), "
            "or give the table a primary key; or leave it out of table.include.list")
        for table in tables
        if not table.primary_key and table.root is None and table.unidentified is None
        and capture.captures(table.namespace, table.name) and not any(p.fullmatch(table.qualified) for p in keyed)]


def _key_columns(value: str) -> list[re.Pattern[str]] | None:
    """The table patterns of ``message.key.columns`` (``<table>:<column>,...;...``); None when it cannot be read."""
    if "{{" in value or is_provider_reference(value):
        return None
    try:
        return [re.compile(entry.partition(":")[0].strip(), re.IGNORECASE) for entry in value.split(";")
                if entry.strip()]
    except re.error:
        return None


#: MariaDB's (and MySQL's) default ``server_id``, and the local stack's ERP database's (``--server-id=1``).
DEFAULT_SERVER_ID = 1
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def check_server_ids(checked: Sequence[LocalConnector], every: Sequence[LocalConnector]) -> dict[str, list[Problem]]:
    """The ``database.server.id`` of each MariaDB connector of ``checked`` is the server's own default (1) or that
    of another connector of ``every`` (the whole config set) reading the same server (``database.hostname`` and
    ``database.port`` as rendered): a connector joins the server's replication under that id, and the second one
    with an id already connected is refused by the server ("A slave with the same server_uuid/server_id is
    already connected"), only once deployed. Problems by connector name."""
    readers: dict[tuple[str, str], list[LocalConnector]] = {}
    for connector in every:
        server = _mariadb_server(connector)
        if server is not None:
            readers.setdefault(server, []).append(connector)
    taken = [int(c.config["database.server.id"]) for group in readers.values() for c in group]
    free = max([*taken, 184100]) + 1
    problems: dict[str, list[Problem]] = {}
    for connector in checked:
        server = _mariadb_server(connector)
        if server is None:
            continue
        key = "database.server.id"
        server_id = int(connector.config[key])
        where = f"{connector.config['database.hostname'].strip()}:{server[1]}"
        fix = (f"give each connector that reads a MariaDB server its own {key}, unique among all the connectors and "
               f"replicas of that server and other than the server's own server_id, e.g. {free}")
        if server_id == DEFAULT_SERVER_ID:
            message = (f"{server_id} is MariaDB's default server_id, the one the server at {where} most likely has "
                       "itself (the local stack's ERP database runs with 1): the server refuses a replica with its "
                       "own id")
            problems.setdefault(connector.name, []).append(Problem(
                file=connector.source_of(key), line=connector.line_of(key), field=key, message=message, fix=fix))
        for other in readers.get(server, []):
            if other.name != connector.name and int(other.config[key]) == server_id:
                line = other.line_of(key)
                other_place = f"{shown(other.source_of(key))}{f':{line}' if line else ''}"
                message = (f"{server_id} is also the {key} of connector {other.name} ({other_place}), which reads the "
                           f"same MariaDB server {where}: deployed, the second of them to connect fails with \"A slave "
                           "with the same server_uuid/server_id is already connected\"")
                problems.setdefault(connector.name, []).append(Problem(
                    file=connector.source_of(key), line=connector.line_of(key), field=key, message=message, fix=fix))
    return problems


def history_warnings(connector: LocalConnector, kafka: Sequence[str]) -> list[Problem]:
    """A schema history whose clients bootstrap from brokers none of which is the configured Kafka's (``kafka``, the
    Kafka settings' ``bootstrap_servers``; ``localhost``, ``127.0.0.1`` and ``::1`` are one host): the connector
    writes its change topics through Connect, but keeps its history, and reads it back at every start, wherever
    that says (the local stack's broker, once), and its task fails when that Kafka is stopped or denies it. Said,
    not refused: Connect may reach the same brokers under another address (an overlay's or ``capture.variables``'
    ``kafka_bootstrap_servers``)."""
    history = schema_history.of(connector.config)
    value = history.bootstrap_servers if history is not None else None
    if not value or "{{" in value or is_provider_reference(value) or _brokers(value) & _brokers(",".join(kafka)):
        return []
    key = schema_history.BOOTSTRAP_SERVERS
    return [Problem(
        file=connector.source_of(key), line=connector.line_of(key), field=key,
        message=f"is {value!r}, not the configured Kafka ({','.join(kafka)}, the kafka settings' bootstrap_servers): "
                "Debezium's schema-history clients keep the connector's history there and read it back at every "
                "start of its task, which fails when that Kafka is stopped or refuses them",
        fix="render it as {{kafka_bootstrap_servers}}, which follows the kafka settings, and set no other value "
            "for that variable; keep it only if Connect reaches the configured Kafka under this address "
            "(connect-configs/README.md, \"Schema history\")")]


def _brokers(servers: str) -> set[tuple[str, str]]:
    return {(_host(host), port.strip()) for host, _, port in
            (server.strip().rpartition(":") for server in servers.split(",") if server.strip())}


def _host(host: str) -> str:
    host = host.strip().strip("[]").lower()
    return "localhost" if host in _LOCAL_HOSTS else host


def _mariadb_server(connector: LocalConnector) -> tuple[str, str] | None:
    """The (host, port) a MariaDB connector reads, or None for another connector, or one whose server id, host or
    port is not a plain rendered value (its own checks say why)."""
    config = connector.config
    if config.get("connector.class") != MARIADB:
        return None
    server_id, host, port = (config.get(k, "") for k in ("database.server.id", "database.hostname", "database.port"))
    if not _WHOLE.match(server_id.strip()) or not host or "{{" in host + port or is_provider_reference(host):
        return None
    return (_host(host), port.strip() or "3306")


def check(connector: LocalConnector, client: ConnectClient | None,
          catalogs: Iterable[Catalog] = ()) -> list[Problem]:
    """Our checks (the tables against ``catalogs``, see :func:`check_tables` and :func:`check_capture`), then
    Connect's when a client is given and ours found nothing."""
    catalogs = list(catalogs)
    problems = check_local(connector) + check_tables(connector, catalogs) + check_capture(connector, catalogs)
    if not problems and client is not None:
        problems = check_with_connect(connector, client)
    return problems
