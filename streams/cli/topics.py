"""`isthmus topics ...`: inspect Isthmus's topics: ``list``, ``describe``, ``lag``, ``tail``, ``trace``,
``hanging`` (find and abort hanging transactions), ``schemas`` (the schemas records were written with) and ``dlq``
(list, show, replay dead letters).

``--json`` gives JSON lines for jq, one self-contained object a line (a ``dlq`` line names its dead-letter topic
and the dead letter's ``PARTITION:OFFSET`` in it); messages go to stderr. Personal data
(fields marked ``pii`` in schemas/, and the source columns mapped to them) is masked unless ``--show-pii`` is
given by a caller whose role allows it (:mod:`streams.inspect.roles`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from streams.cli.commands import help_of
from streams.cli.runtime import load_runtime, stack_home
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import SchemaLoadError
from streams.config.kafka import KafkaSettings
from streams.errors import IsthmusError
from streams.flows.customers.config import EntityConfig
from streams.flows.customers.rederive import load_entity_flows, replay_ways
from streams.inspect import admin, filters
from streams.inspect.decoding import decode_record, key_label, letter_entity, letter_key, masked
from streams.inspect.exceptions import BadFilter
from streams.inspect.masking import MASK, PiiCatalog, inspection_catalog, mask, unloaded_warning
from streams.inspect.output import (
    OUTPUTS,
    describe_document,
    json_line,
    lag_document,
    raw_line,
    record_document,
    table_line,
    topic_document,
    topic_line,
)
from streams.inspect.reader import StartAt, read
from streams.inspect.roles import TOKEN_ENV, TOKENS_ENV, AccessPolicy, Permission
from streams.inspect.seek import format_ms, since_ms
from streams.inspect.trace import trace
from streams.kafka import hanging, written_schemas
from streams.mapping import RecordMapping, load_mappings
from streams.sinks import dlq
from streams.sinks.records import COMMAND, DEAD_LETTER
from streams.sinks.superseded import repeated_letters, repeated_reason, superseded_commands
from streams.sinks.topics import DLQ_TOPIC, dlq_topic
from streams.systems import load_systems

__all__ = ["MASK", "describe", "mask", "register"]

#: How far back `topics trace` reads unless ``--since`` says otherwise.
TRACE_WINDOW = "24h"


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("topics",
                                  help=help_of("topics"),
                                  description="Inspect Isthmus's Kafka topics, decoded from their Avro schemas.")
    commands = group.add_subparsers(dest="topics_command", required=True, metavar="SUBCOMMAND")
    _register_inspect(commands)
    _register_dlq(commands)


def _register_dlq(commands: Any) -> None:
    group = commands.add_parser("dlq", help="list, show and replay dead letters",
                                description="Records that a stage could not process, with the reason, the stage "
                                            "and the original bytes. Once the cause is fixed, replay has an entity "
                                            "flow derive its dead-lettered commands again from the current state, "
                                            "and re-produces any other record as stored (--as-stored: all).")
    sub = group.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")

    def add(name: str, run: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--topic", help=f"the dead-letter topic (default: {DLQ_TOPIC}, under the kafka section's "
                            "topic_prefix)")
        parser.add_argument("--json", action="store_true",
                            help="JSON lines, one per dead letter, each naming the dead-letter topic")
        parser.set_defaults(run=run)
        return parser

    parser = add("list", run_list, "one line per dead letter: offset, time, stage, entity, whether it was replayed, "
                 "reason")
    parser.add_argument("--stage", help="only this stage, e.g. sink.erp")
    parser.add_argument("--pending", action="store_true",
                        help="only the dead letters still to deal with: never replayed, or whose last replay failed "
                             "again (a sink's letter that a later pending one of the same refusal repeats is marked "
                             "[repeated by P:O], that later one [repeats N older])")

    parser = add("show", run_show, "everything about one dead letter, its original value decoded when possible")
    parser.add_argument("address", metavar="OFFSET", help="OFFSET, or PARTITION:OFFSET")
    parser.add_argument("--show-pii", action="store_true", help="do not mask personal data (admin role)")
    _add_access(parser, pii=False)

    parser = add("replay", run_replay, "replay dead letters, marked as replays: a command an entity flow derived "
                 "(a sink's dead letter of an entity's create or update) is derived again by that flow from the "
                 "entity's current state, so a fix made in the source since is what gets applied (the flow re-sends "
                 "the stored command when it no longer knows the entity); any other record, or every record with "
                 "--as-stored, is re-produced to its original topic as it was stored")
    parser.add_argument("positions", nargs="*", metavar="OFFSET", help="OFFSET or PARTITION:OFFSET, in order")
    parser.add_argument("--pending", action="store_true",
                        help="every pending dead letter (of --stage, if given), as `dlq list --pending` lists them: "
                             "never replayed, or whose last replay failed again")
    parser.add_argument("--all", action="store_true",
                        help="every dead letter (of --stage, if given), also those replayed before, which are "
                             "replayed again (the output says how many); --pending leaves them out")
    parser.add_argument("--stage", help="with --pending or --all: only this stage")
    parser.add_argument("--as-stored", action="store_true",
                        help="re-produce every stored record as it was, also the commands an entity flow would "
                             "derive again (the stale payload, under its old idempotency key)")
    parser.add_argument("--stale", action="store_true",
                        help="replay a flow's dead-lettered change of a row even when its topic holds later "
                             "changes of that row (they carry its current values: by default such a change is "
                             "not replayed, since it would send the old ones again), and a settled dead letter")

    parser = add("settle", run_settle, "mark dead letters settled without replaying them (a superseded change of a "
                 "row, a command no longer wanted): a note beside each, so `dlq list` and the dashboard show it "
                 "settled and no longer count it pending")
    parser.add_argument("positions", nargs="*", metavar="OFFSET", help="OFFSET or PARTITION:OFFSET")
    parser.add_argument("--superseded", action="store_true",
                        help="every pending dead letter that something later superseded: a flow's change of a row "
                             "that `dlq replay` would not replay, its row having changed since (the flow used a later "
                             "change of the row, with every field); a sink's command when later commands of its "
                             "entity, applied, wrote between them every field it carried (a refused create sent again "
                             "with the source fixed, or whose fields later updates wrote, and the updates that failed "
                             "behind it), or when a later pending dead "
                             "letter repeats it (the same target, entity, payload type and operation, refused again "
                             "after a snapshot: the latest stays pending)")
    parser.add_argument("--reason", help="why, kept in the note (default with --superseded: the later changes or "
                                         "commands that superseded it)")
    parser.add_argument("--results-topic", metavar="TOPIC",
                        help="with --superseded: where the sinks wrote their CommandResults, when not "
                             "isthmus.results.<system> (a sink's ISTHMUS_SINK_RESULTS_TOPIC)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the dead letters it would settle, each with its reason (with --superseded: the "
                             "later commands or changes that made it moot), and write nothing")


def _bootstrap(args: argparse.Namespace) -> KafkaSettings:
    """The Kafka settings of a ``topics`` command: the environment, then the ``--config`` file the command line
    names (else ``ISTHMUS_CONFIG``), then the stack's offer; the file's name prefixes are put in the environment.
    Read once a command (a replay asks for them at each step)."""
    kafka: KafkaSettings | None = getattr(args, "kafka_settings", None)
    if kafka is None:
        kafka = args.kafka_settings = load_runtime(args).kafka
    return kafka


def _json_lines(topic: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """``--json`` of a ``dlq`` command: one line per dead letter, as every inspect command's JSON lines (for jq),
    each naming the dead-letter ``topic`` so that a line says on its own which dead letter it is."""
    for row in rows:
        print(json_line({"topic": topic, **row}))


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _entries(args: argparse.Namespace, store: SchemaStore) -> list[dlq.DeadLetterEntry]:
    bootstrap = _bootstrap(args)  # first: a --config file's topic prefix is in the environment from here on
    args.topic = args.topic or dlq_topic()
    return asyncio.run(dlq.read_dead_letters(bootstrap, args.topic, store))


def _catalog(store: SchemaStore, mappings: Mapping[str, RecordMapping] | None = None) -> PiiCatalog:
    """The masking of an inspection command: every value hidden, after one warning on stderr, while the mappings
    do not load (:func:`~streams.inspect.masking.inspection_catalog`)."""
    return inspection_catalog(store.schemas, mappings=mappings, warn=lambda line: print(line, file=sys.stderr))


def _shortened(reason: str, width: int = 120) -> str:
    """A reason cut to ``width`` in its middle: its start says who failed and how, its end what the target said
    and the fix (``ERP answered 200 to POST /x with an error: <the target's own message>``)."""
    if len(reason) <= width:
        return reason
    head = width // 3
    return f"{reason[:head]} … {reason[-(width - head - 3):]}"


def run_list(args: argparse.Namespace) -> int:
    store = SchemaStore.from_directory()
    catalog = _catalog(store)
    everything = _entries(args, store)
    repeated = {a: newer.address() for a, newer in repeated_letters(everything, store).items()}
    repeats = Counter(repeated.values())
    entries = [e for e in everything if (args.stage is None or e.stage == args.stage)
               and (not args.pending or e.pending)]
    rows = [{"partition": e.partition, "offset": e.offset, "time": _time(e.timestamp_ms), "stage": e.stage,
             "error_type": e.letter["error_type"], "reason": e.reason, "entity": letter_entity(e, store, catalog),
             "original": f"{e.letter['topic']}[{e.letter['partition']}]@{e.letter['offset']}",
             "status": e.status, "replays": [str(m) for m in e.replays],
             "repeated_by": repeated.get(e.address()), "repeats": repeats[e.address()]} for e in entries]
    if args.json:
        _json_lines(args.topic, rows)
        return 0
    if not rows:
        print(f"{args.topic}: no {'pending ' if args.pending else ''}dead letters"
              + (f" of stage {args.stage}" if args.stage else ""), file=sys.stderr)
        return 0
    for row in rows:
        reason = _shortened(row["reason"])
        mark = (f"[repeated by {row['repeated_by']}] " if row["repeated_by"] else
                f"[repeats {row['repeats']} older] " if row["repeats"] else "")
        print(f"{row['partition']}:{row['offset']:<6} {row['time']}  {row['stage']:<10} {row['entity']:<16} "
              f"{row['status']:<12} {mark}{reason}")
    shown = sum(row["repeated_by"] is not None for row in rows)
    if shown:
        print(f"{shown} pending dead letter(s) repeated by a later pending one of the same command's refusal "
              "(`dlq settle --superseded` settles them, leaving the latest of each pending)", file=sys.stderr)
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return "0x" + value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def describe(entry: dlq.DeadLetterEntry, store: SchemaStore, *, show_pii: bool,
             catalog: PiiCatalog | None = None) -> dict[str, Any]:
    """One dead letter as ``dlq show`` prints it; ``catalog`` (default: loaded here) masks its key as every
    inspect command masks keys, unless ``show_pii``."""
    letter = dict(entry.letter)
    if not show_pii and catalog is None:
        catalog = _catalog(store)
    letter["key"] = letter_key(entry, None if show_pii else catalog)
    command = entry.command(store)
    document: dict[str, Any] = {"partition": entry.partition, "offset": entry.offset,
                                "time": _time(entry.timestamp_ms), "status": entry.status,
                                "replays": [str(m) for m in entry.replays]}
    original_value = letter.pop("value", None)
    if command is not None:
        if not show_pii:
            command = mask(command, store.schemas.pii_fields(COMMAND))
        elif isinstance(command.get("payload"), str):
            with contextlib.suppress(ValueError):
                command["payload"] = json.loads(command["payload"])
        document["value_decoded"] = {"schema": COMMAND, "value": command}
    elif original_value is not None:
        document["value_decoded"] = None
        document["value_bytes"] = len(original_value)
    if not show_pii:
        letter = mask(letter, store.schemas.pii_fields(DEAD_LETTER) - {"value", "key"})  # key: masked above
    elif original_value is not None and command is None:
        letter["value"] = original_value
    document["dead_letter"] = letter
    return _jsonable(document)  # type: ignore[no-any-return]


def run_show(args: argparse.Namespace) -> int:
    if args.show_pii:
        _require_pii(args, action="show personal data of a dead letter")
    store = SchemaStore.from_directory()
    [entry] = dlq.pick(_entries(args, store), [args.address], args.topic)
    document = describe(entry, store, show_pii=args.show_pii)
    if args.json:
        _json_lines(args.topic, [document])
        return 0
    letter = document["dead_letter"]
    print(f"dead letter {entry.address()} of {args.topic} at {document['time']}")
    for name in ("stage", "error_type", "reason", "attempts", "worker", "failed_at"):
        print(f"  {name}: {letter.get(name)}")
    print(f"  status: {document['status']}")
    for replayed in document["replays"]:
        print(f"  replay: {replayed}")
    print(f"  original: {letter['topic']}[{letter['partition']}]@{letter['offset']} at {letter.get('timestamp')}")
    print(f"  key: {key_label(letter.get('key'))}")
    for header in letter.get("headers", []):
        print(f"  header {header['key']}: {header['value']}")
    if document.get("value_decoded") is not None:
        print(f"  value ({document['value_decoded']['schema']}):")
        for line in json.dumps(document["value_decoded"]["value"], indent=2, ensure_ascii=False).splitlines():
            print(f"    {line}")
    elif "value_bytes" in document:
        print(f"  value: {document['value_bytes']} bytes, not a Command" +
              (f": {letter['value']}" if args.show_pii else " (--show-pii shows them)"))
    else:
        print("  value: none (tombstone)")
    return 0


def _entity_flows(store: SchemaStore) -> list[EntityConfig]:
    flows, broken = load_entity_flows(store)
    for name, why in broken.items():
        print(f"isthmus: entity flow {name} cannot be built, its commands are replayed as stored: {why}",
              file=sys.stderr)
    return flows


def run_replay(args: argparse.Namespace) -> int:
    store = SchemaStore.from_directory()
    if [bool(args.positions), args.pending, args.all].count(True) != 1:
        print("isthmus: give the OFFSETs to replay, --pending or --all (either optionally with --stage)",
              file=sys.stderr)
        return 2
    if args.stage and not (args.all or args.pending):
        print("isthmus: --stage goes with --pending or --all", file=sys.stderr)
        return 2
    entries = _entries(args, store)
    if args.all or args.pending:
        picked = [e for e in entries if (args.stage is None or e.stage == args.stage) and (args.all or e.pending)]
    else:
        picked = dlq.pick(entries, args.positions, args.topic)
    if not picked:
        print(f"{args.topic}: no {'pending ' if args.pending else ''}dead letters"
              + (f" of stage {args.stage}" if args.stage else "") + " to replay", file=sys.stderr)
        return 0
    ways = replay_ways(picked, [] if args.as_stored else _entity_flows(store), store, as_stored=args.as_stored)
    rederive = {address: flow for address, (flow, _) in ways.items() if flow is not None}
    stale = {} if args.stale else asyncio.run(dlq.stale_changes(_bootstrap(args), picked, rederive, letters=entries))
    if not args.stale:  # settled: dealt with otherwise, so its values are no one's to send again
        stale.update({e.address(): f"it was {e.replays[-1]}, so a replay would send what was settled as no longer "
                                   "wanted (--stale replays it anyway)"
                      for e in picked if e.status == "settled" and e.address() not in stale})
    catalog = _catalog(store)
    skipped = [{"dead_letter": e.address(), "stage": e.stage, "entity": letter_entity(e, store, catalog),
                "outcome": "skipped", "why": stale[e.address()]} for e in picked if e.address() in stale]
    done = asyncio.run(dlq.replay(_bootstrap(args), args.topic, [e for e in picked if e.address() not in stale],
                                  rederive=rederive, store=store))
    rows = [{"dead_letter": r.entry.address(), "stage": r.entry.stage, "entity": letter_entity(r.entry, store, catalog),
             "outcome": "replayed", "way": "as_stored" if r.flow is None else "rederive", "flow": r.flow,
             "why": ways[r.entry.address()][1], "to": f"{r.topic}[{r.partition}]@{r.offset}",
             "status_before": r.entry.status} for r in done]
    if args.json:  # in the order the dead letters were given, each replayed or skipped
        order = {e.address(): at for at, e in enumerate(picked)}
        _json_lines(args.topic, sorted([*rows, *skipped], key=lambda row: order[row["dead_letter"]]))
        return 0
    for stale in skipped:
        print(f"not replayed {stale['dead_letter']} ({stale['stage']}): {stale['why']}", file=sys.stderr)
    for row in rows:
        if row["flow"] is not None:
            print(f"re-derive {row['dead_letter']} ({row['stage']}, {row['entity']}): asked {row['flow']} -> "
                  f"{row['to']}; it sends what the entity needs now (the stored command if it does not know it)")
        else:
            print(f"replayed {row['dead_letter']} ({row['stage']}, {row['entity']}) as stored -> {row['to']}"
                  + (f" ({row['why']})" if row["why"] and row["why"] != "--as-stored" else ""))
    for line in replay_summary(rows, skipped):
        print(line, file=sys.stderr)
    return 0


def replay_summary(rows: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> list[str]:
    """The last lines of `dlq replay`: how many went which way, and how many were not replayed. A replay of many
    prints a line per dead letter; the summary is what a reader (or a script reading the tail) takes as the outcome,
    so it counts the ones left out too (a trial read "116 replayed as stored" and missed the 12 not replayed)."""
    asked = sum(row["flow"] is not None for row in rows)
    lines = [f"{len(rows) - asked} replayed as stored, {asked} re-derived by their flows (--as-stored re-sends the "
             "stored commands instead)" if asked else f"{len(rows)} replayed as stored"]
    again = sum(row["status_before"] == "replayed" for row in rows)
    if again:
        lines.append(f"{again} of them had been replayed before (--all replays those again; --pending leaves them out)")
    if skipped:
        lines.append(f"{len(skipped)} not replayed ({', '.join(row['dead_letter'] for row in skipped[:10])}"
                     f"{', ...' if len(skipped) > 10 else ''}): each is stale or settled, as its `not replayed` line "
                     "above says; a stale one stays pending until `isthmus topics dlq settle --superseded` settles it, "
                     "or --stale replays it anyway")
    return lines


def run_settle(args: argparse.Namespace) -> int:
    store = SchemaStore.from_directory()
    if bool(args.positions) == bool(args.superseded):
        print("isthmus: give the OFFSETs to settle, or --superseded", file=sys.stderr)
        return 2
    if args.results_topic and not args.superseded:
        print("isthmus: --results-topic goes with --superseded", file=sys.stderr)
        return 2
    if args.positions and not args.reason:
        print("isthmus: say why with --reason TEXT (kept beside each dead letter)", file=sys.stderr)
        return 2
    entries = _entries(args, store)
    if args.superseded:
        pending = [e for e in entries if e.pending]
        why = asyncio.run(dlq.stale_changes(_bootstrap(args), pending, {}, letters=entries))
        reasons = {a: args.reason or f"superseded: {text.partition(' (`dlq settle`')[0]}" for a, text in why.items()}
        reasons.update({a: args.reason or repeated_reason(newer, store)
                        for a, newer in repeated_letters(pending, store).items()})
        commands = asyncio.run(superseded_commands(_bootstrap(args), pending, store, results=args.results_topic))
        reasons.update({a: args.reason or text for a, text in commands.items()})
        picked = [e for e in pending if e.address() in reasons]
    else:
        picked = dlq.pick(entries, args.positions, args.topic)
        reasons = {e.address(): args.reason for e in picked}
    if args.dry_run:
        rows = [{"dead_letter": e.address(), "stage": e.stage, "reason": reasons[e.address()], "dry_run": True}
                for e in picked]
    else:
        done = (asyncio.run(dlq.settle(_bootstrap(args), args.topic, picked, reasons=reasons, store=store))
                if picked else [])
        rows = [{"dead_letter": s.entry.address(), "stage": s.entry.stage, "reason": s.reason,
                 "note": f"{args.topic}[{s.entry.partition}]@{s.offset}"} for s in done]
    if args.json:
        _json_lines(args.topic, rows)
        return 0
    done_word = "would settle" if args.dry_run else "settled"
    for row in rows:
        print(f"{done_word} {row['dead_letter']} ({row['stage']}): {row['reason']}")
    print(f"{len(rows)} {done_word}" + (" (--dry-run: nothing written)" if args.dry_run else "")
          + ("" if rows or not args.superseded else ": no pending dead letter is superseded"), file=sys.stderr)
    return 0


def _add_access(parser: argparse.ArgumentParser, *, pii: bool = True) -> None:
    if pii:
        parser.add_argument("--show-pii", action="store_true",
                            help="do not mask personal data (needs an admin token where tokens are configured; "
                                 "with none, local use, anyone may)")
    parser.add_argument("--token", default=None,
                        help=f"the caller's token (default ${TOKEN_ENV}); roles come from ${TOKENS_ENV} or "
                             "<home>/secrets/tokens")


def _policy() -> AccessPolicy:
    return AccessPolicy.from_env(stack_home())


def _require_pii(args: argparse.Namespace, *, action: str) -> None:
    """Personal data needs an admin token; with no tokens configured the local user is trusted (their stack's
    secrets folder already holds the database passwords)."""
    policy = _policy()
    if not policy.tokens:
        print(f"isthmus: no tokens configured ({TOKENS_ENV} or <home>/secrets/tokens): local use, "
              "personal data shown", file=sys.stderr)
        return
    caller = policy.caller(args.token or os.environ.get(TOKEN_ENV))
    policy.require(caller, Permission.SHOW_PII, action=action)


def _register_inspect(commands: Any) -> None:
    parser = commands.add_parser("list", help="topics with partitions, messages, cleanup policy and retention",
                                 description="Topics with their partition count, message count (from offsets), "
                                             "cleanup policy and retention.")
    parser.add_argument("--all", action="store_true", help="include internal topics (Kafka, Connect, store changelogs)")
    parser.add_argument("--json", action="store_true", help="JSON lines, one per topic")
    parser.set_defaults(run=run_topics_list)

    parser = commands.add_parser("describe", help="partitions, leaders, begin/end offsets and config of a topic",
                                 description="Partitions, leaders, replicas, begin/end offsets and the full "
                                             "configuration of one topic.")
    parser.add_argument("topic", metavar="TOPIC")
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.set_defaults(run=run_describe)

    parser = commands.add_parser("lag", help="committed offset, end offset and lag per group and partition",
                                 description="Consumer lag per group and partition: of the groups given, else "
                                             "of every group named under the kafka section's group_prefix "
                                             "(this environment's, on a cluster that others share).")
    parser.add_argument("--group", action="append", default=[], help="only this group (repeatable)")
    parser.add_argument("--all-groups", action="store_true",
                        help="every group on the cluster, whatever its prefix (other environments' and "
                             "applications' too)")
    parser.add_argument("--json", action="store_true", help="JSON lines, one per group and partition")
    parser.set_defaults(run=run_lag)

    parser = commands.add_parser(
        "hanging", help="find (and --abort) transactions that will never close and stall read_committed readers",
        description="Open transactions older than --older-than minutes that their coordinator does not know "
                    "(left by a broker stopped mid-commit): every read_committed reader of their partition, "
                    "Kafka Connect's offsets reader and the flows included, waits at their first record for "
                    "ever. --abort writes the abort marker that closes each. Exit 1 when some were found and "
                    "not aborted.")
    parser.add_argument("--older-than", type=int, default=hanging.HANGING_AFTER_MIN, metavar="MIN",
                        help=f"minutes a transaction must have been open (default {hanging.HANGING_AFTER_MIN}; "
                             "above every producer's transaction timeout, 60 s here)")
    parser.add_argument("--abort", action="store_true", help="abort each one found")
    parser.add_argument("--json", action="store_true", help="JSON lines, one per transaction")
    parser.set_defaults(run=run_hanging)

    parser = commands.add_parser(
        "schemas", help="the schemas records were written with, as their writers recorded them",
        description="The schemas the worker and the sinks recorded writing with (in isthmus.schemas): "
                    "fingerprint, record, when first written, and which file of schemas/ has it: the current one, "
                    "a history copy, none (add it to history/: --show prints it), or one that reads it otherwise.")
    parser.add_argument("--show", metavar="FINGERPRINT",
                        help="print the recorded schema of this fingerprint (16 hex digits), e.g. to keep it as "
                             "schemas/history/<stem>.v<N>.avsc")
    parser.add_argument("--json", action="store_true", help="JSON lines, one per recorded schema")
    parser.set_defaults(run=run_schemas)

    parser = commands.add_parser("tail", help="decode, filter and print records of topics",
                                 description="Decode Debezium records, canonical Avro and commands; filter by "
                                             "key, field expression and header; seek by offset or time.")
    parser.add_argument("topics", nargs="+", metavar="TOPIC")
    parser.add_argument("--key", action="append", default=[],
                        help="only records with this key, as tail prints it: one value (C-000123), or every column "
                             "of a composite key as 'kdnr=1021 mandant=1' (any order) or a JSON object "
                             "(repeatable)")
    parser.add_argument("--where", action="append", default=[],
                        help="a field expression, e.g. 'after.name == \"Acme\"' or 'payload_type ~ Account' "
                             "(repeatable; all must hold)")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE",
                        help="only records with this header value (repeatable)")
    seek = parser.add_mutually_exclusive_group()
    seek.add_argument("--offset", type=int, help="start at this offset (in every chosen partition)")
    seek.add_argument("--since", help="start at a time: 30s, 15m, 1h, 2d, or 2026-11-25T10:00:00Z")
    seek.add_argument("--from-beginning", action="store_true", help="start at the beginning (the default "
                      "without --follow)")
    parser.add_argument("--partition", action="append", type=int, default=[], help="only this partition")
    parser.add_argument("--max", type=int, help="stop after this many matching records")
    parser.add_argument("--follow", action="store_true", help="keep reading new records (from the end unless "
                        "a start is given)")
    parser.add_argument("--output", choices=OUTPUTS, default="table", help="table (default), json or raw")
    parser.add_argument("--json", action="store_true", help="JSON lines (same as --output json)")
    _add_access(parser)
    parser.set_defaults(run=run_tail)

    parser = commands.add_parser("trace", help="one customer or order through every topic, as a timeline",
                                 description="Follow a customer (C-000123) or an order (SO-000001) through "
                                             "CDC, canonical, command, result, dead-letter, conflict and "
                                             "customer-360 topics, ordered by record time.")
    parser.add_argument("entity", metavar="ENTITY")
    parser.add_argument("--since", default=TRACE_WINDOW,
                        help=f"only records from this time: 1h, 30d, or an ISO 8601 time (default {TRACE_WINDOW}: "
                             "older records are not read)")
    parser.add_argument("--topic", action="append", default=[],
                        help="trace through these topics instead of Isthmus's own (repeatable)")
    parser.add_argument("--json", action="store_true", help="JSON lines, one per record")
    _add_access(parser)
    parser.set_defaults(run=run_trace)


def run_topics_list(args: argparse.Namespace) -> int:
    found = admin.topics(_bootstrap(args), include_internal=args.all)
    if args.json:
        for topic in found:
            print(json_line(topic_document(topic)))
        return 0
    width = max((len(t.name) for t in found), default=5)
    print(f"{'TOPIC':<{width}}  {'PAR':>3}  {'MESSAGES':>10}  {'CLEANUP':<14} RETENTION")
    for topic in found:
        print(topic_line(topic, width))
    return 0


def run_describe(args: argparse.Namespace) -> int:
    [topic] = admin.topics(_bootstrap(args), [args.topic], config_keys=None)
    document = describe_document(topic)
    if args.json:
        print(json_line(document))
        return 0
    print(f"{topic.name}: {len(topic.partitions)} partition(s), {topic.messages} message(s)"
          + (" (internal)" if topic.internal else ""))
    for p in document["partitions"]:
        print(f"  partition {p['partition']}: leader {p['leader']}, replicas {p['replicas']}, isr {p['isr']}, "
              f"offsets {p['begin']}..{p['end']} ({p['messages']})")
    print("  config:")
    for name, value in topic.config.items():
        print(f"    {name} = {value}")
    return 0


def run_lag(args: argparse.Namespace) -> int:
    kafka = _bootstrap(args)
    prefix = "" if args.all_groups else kafka.group_prefix
    rows = admin.lag(kafka, args.group or None, prefix=prefix)
    if args.json:
        for row in rows:
            print(json_line(lag_document(row)))
        return 0
    if not rows:
        print("no committed offsets" + (f" for {', '.join(args.group)}" if args.group else
                                        f" of a group named {prefix}* (--all-groups: every group)" if prefix
                                        else ""), file=sys.stderr)
        return 0
    for row in rows:
        committed = "-" if row.committed is None else str(row.committed)
        lag = "-" if row.lag is None else str(row.lag)
        print(f"{row.group}  {row.topic}[{row.partition}]  committed {committed}  end {row.end}  lag {lag}")
    return 0


def run_hanging(args: argparse.Namespace) -> int:
    tool = hanging.TransactionsTool.for_kafka(load_runtime(args).kafka)
    search = hanging.abort_hanging if args.abort else hanging.find_hanging
    found = search(tool, older_than_min=args.older_than)
    for txn in found:
        if args.json:
            print(json_line({**dataclasses.asdict(txn), "aborted": args.abort}))
        else:
            print(("aborted " if args.abort else "hanging ") + txn.describe())
    if not found:
        print(f"no hanging transaction (open over {args.older_than} min and unknown to its coordinator)",
              file=sys.stderr)
    return 1 if found and not args.abort else 0


def _store(bootstrap: KafkaSettings) -> SchemaStore:
    """The schemas of schemas/, reading a record no file has with the schema its writer recorded."""
    store = SchemaStore.from_directory()
    written_schemas.attach(store, bootstrap, check=False)
    return store


def run_schemas(args: argparse.Namespace) -> int:
    store = SchemaStore.from_directory()
    written = written_schemas.read_written(_bootstrap(args))
    if args.show:
        chosen = [w for w in written if w.fingerprint.hex() == args.show.strip().lower()]
        if not chosen:
            raise IsthmusError(f"no schema is recorded with fingerprint {args.show} in "
                               f"{written_schemas.schemas_topic()}; `isthmus topics schemas` lists them")
        if len(chosen) > 1:
            print(f"{len(chosen)} schemas are recorded with this fingerprint; the first written is shown",
                  file=sys.stderr)
        print(json.dumps(chosen[0].schema, indent=2))
        return 0
    for recorded in written:
        known = store.fingerprints().get(recorded.fingerprint)
        if known is None:
            state, where = "missing", f"no file of schemas/ has it: {store.keep_hint(recorded)}"
        else:
            try:
                store.check_written([recorded])
                state, where = known.version, known.source
            except SchemaLoadError as exc:
                state, where = "differs", str(exc)
        if args.json:
            print(json_line({"fingerprint": recorded.fingerprint.hex(), "name": recorded.name,
                             "written_at": recorded.written_at, "state": state, "file": where}))
        else:
            print(f"{recorded.fingerprint.hex()}  {recorded.name}  {recorded.written_at}  {state}: {where}")
    if not written:
        print(f"no schema recorded in {written_schemas.schemas_topic()}", file=sys.stderr)
    return 0


def _show_pii(args: argparse.Namespace, action: str) -> bool:
    if args.show_pii:
        _require_pii(args, action=action)
        return True
    return False


def run_tail(args: argparse.Namespace) -> int:
    output = "json" if args.json else args.output
    if output == "raw" and not args.show_pii:
        raise BadFilter("--output raw prints the bytes as written and cannot mask personal data; add "
                        "--show-pii (the admin role where tokens are configured; with none it is yours) or use "
                        "--output json")
    show = _show_pii(args, "show personal data in tail")
    keep = filters.build(keys=args.key, headers=args.header, where=args.where)
    if args.since:
        start = StartAt(time_ms=since_ms(args.since), partitions=tuple(args.partition))
    elif args.offset is not None:
        start = StartAt(offset=args.offset, partitions=tuple(args.partition))
    elif args.follow and not args.from_beginning:
        start = StartAt(partitions=tuple(args.partition))
    else:
        start = StartAt(beginning=True, partitions=tuple(args.partition))
    store = _store(_bootstrap(args))
    catalog = None if show else _catalog(store)
    shown = 0
    for raw in read(_bootstrap(args), args.topics, start, follow=args.follow):
        record = decode_record(raw, store)
        if catalog is not None:
            record = masked(record, catalog)
        if not keep(record):
            continue
        if output == "json":
            print(json_line(record_document(record)), flush=True)
        elif output == "raw":
            print(raw_line(record), flush=True)
        else:
            print(table_line(record), flush=True)
        shown += 1
        if args.max is not None and shown >= args.max:
            break
    return 0


class ProgressLine:
    """``trace: read 250,000 of 1,000,000 records (12s); crm.crm.contacts 20,652 of 40,848, …`` on stderr, at most
    once a second, once a read lasts a second: the whole, then each topic still being read (the first
    :attr:`TOPICS_SHOWN`, and how many more)."""

    TOPICS_SHOWN = 4

    def __init__(self, label: str, every_s: float = 1.0) -> None:
        self.label, self.every_s = label, every_s
        self.began = self.shown = time.monotonic()

    def __call__(self, progress: Mapping[str, tuple[int, int]]) -> None:
        now = time.monotonic()
        if now - self.shown < self.every_s:
            return
        self.shown = now
        done, total = sum(d for d, _ in progress.values()), sum(t for _, t in progress.values())
        reading = [f"{topic} {d:,} of {t:,}" for topic, (d, t) in progress.items() if d < t]
        more = len(reading) - self.TOPICS_SHOWN
        topics = ", ".join(reading[:self.TOPICS_SHOWN])
        if more > 0:
            topics += f" and {more} more topic{'s' if more > 1 else ''}"
        print(f"{self.label}: read {done:,} of {total:,} records ({now - self.began:.0f}s)"
              + (f"; {topics}" if topics else ""), file=sys.stderr, flush=True)


def run_trace(args: argparse.Namespace) -> int:
    show = _show_pii(args, "show personal data in trace")
    store = _store(_bootstrap(args))
    systems = load_systems()
    mappings: Mapping[str, RecordMapping] = {}
    try:
        mappings = load_mappings(schemas=store.schemas, systems=systems)  # read once: the trace and the masking
        catalog = _catalog(store, mappings)
    except IsthmusError as exc:  # traced still, by the records keyed by the entity, every value masked
        print(unloaded_warning(exc) + "; the trace follows no mapping's references (only records keyed by the "
              "entity are found)", file=sys.stderr)
        catalog = PiiCatalog.masking_all(store.schemas)
    bootstrap = _bootstrap(args)
    existing = None if args.topic else admin.topic_names(bootstrap)
    start = since_ms(args.since)
    default = " (the default window)" if args.since == TRACE_WINDOW else ""
    print(f"trace: records since {format_ms(start)}{default}; --since 30d or an ISO 8601 time reads older "
          "history", file=sys.stderr)
    records = trace(bootstrap, args.entity, store, topics=args.topic or None, since_ms=start,
                    existing=existing, systems=systems, mappings=mappings, on_progress=ProgressLine("trace"))
    for record in records:
        record = record if show else masked(record, catalog)
        print(json_line(record_document(record)) if args.json else table_line(record))
    if not args.json:
        print(f"{len(records)} record(s) of {args.entity}", file=sys.stderr)
    return 0
