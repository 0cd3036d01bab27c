"""`isthmus topics ...`: inspect Isthmus's topics. Today: ``dlq`` (list, show, replay dead letters).

Each subcommand group registers itself in ``register``; list, describe, tail, lag and trace are added the
same way. Global options (``--json`` per command) follow the connectors command's conventions: one JSON
document on stdout, messages on stderr. Personal data (fields marked ``pii`` in schemas/) is masked unless
``--show-pii`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks import dlq
from streams.sinks.records import COMMAND, DEAD_LETTER
from streams.sinks.topics import DLQ_TOPIC
from streams.stack.settings import StackSettings

MASK = "***"


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("topics", help="inspect Isthmus topics (dead letters)",
                                  description="Inspect Isthmus's Kafka topics, decoded from their Avro schemas.")
    commands = group.add_subparsers(dest="topics_command", required=True, metavar="SUBCOMMAND")
    _register_dlq(commands)


def _register_dlq(commands: Any) -> None:
    group = commands.add_parser("dlq", help="list, show and replay dead letters",
                                description="Records that a stage could not process, with the reason, the stage "
                                            "and the original bytes; replay re-produces them once fixed.")
    sub = group.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")

    def add(name: str, run: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--topic", default=DLQ_TOPIC, help=f"the dead-letter topic ({DLQ_TOPIC})")
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        parser.set_defaults(run=run)
        return parser

    parser = add("list", run_list, "one line per dead letter: offset, time, stage, reason, entity")
    parser.add_argument("--stage", help="only this stage, e.g. sink.erp")

    parser = add("show", run_show, "everything about one dead letter, its original value decoded when possible")
    parser.add_argument("address", metavar="OFFSET", help="OFFSET, or PARTITION:OFFSET")
    parser.add_argument("--show-pii", action="store_true", help="do not mask personal data")

    parser = add("replay", run_replay, "re-produce dead letters' original records to their original topics, "
                 "marked as replays")
    parser.add_argument("addresses", nargs="*", metavar="OFFSET", help="OFFSET or PARTITION:OFFSET, in order")
    parser.add_argument("--all", action="store_true", help="every dead letter (of --stage, if given)")
    parser.add_argument("--stage", help="with --all: only this stage")


def _bootstrap() -> str:
    return StackSettings.from_env().bootstrap_servers


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _entries(args: argparse.Namespace, store: SchemaStore) -> list[dlq.DeadLetterEntry]:
    return asyncio.run(dlq.read_dead_letters(_bootstrap(), args.topic, store))


def run_list(args: argparse.Namespace) -> int:
    store = SchemaStore.from_directory()
    entries = [e for e in _entries(args, store) if args.stage is None or e.stage == args.stage]
    rows = [{"partition": e.partition, "offset": e.offset, "time": _time(e.timestamp_ms), "stage": e.stage,
             "error_type": e.letter["error_type"], "reason": e.reason, "entity": e.entity(store),
             "original": f"{e.letter['topic']}[{e.letter['partition']}]@{e.letter['offset']}"} for e in entries]
    if args.json:
        print(json.dumps({"topic": args.topic, "dead_letters": rows}, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"{args.topic}: no dead letters" + (f" of stage {args.stage}" if args.stage else ""), file=sys.stderr)
        return 0
    for row in rows:
        reason = row["reason"] if len(row["reason"]) <= 100 else row["reason"][:99] + "…"
        print(f"{row['partition']}:{row['offset']:<6} {row['time']}  {row['stage']:<10} {row['entity']:<16} "
              f"{reason}")
    return 0


def mask(value: Any, paths: Iterable[str]) -> Any:
    """A copy of ``value`` with the dotted ``paths`` (through dicts and lists) replaced by ``***``."""
    result = value
    for path in paths:
        result = _mask_path(result, path.split("."))
    return result


def _mask_path(value: Any, parts: list[str]) -> Any:
    if isinstance(value, list):
        return [_mask_path(item, parts) for item in value]
    if not isinstance(value, Mapping) or parts[0] not in value:
        return value
    copy = dict(value)
    if len(parts) == 1:
        copy[parts[0]] = MASK if copy[parts[0]] is not None else None
    else:
        copy[parts[0]] = _mask_path(copy[parts[0]], parts[1:])
    return copy


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


def describe(entry: dlq.DeadLetterEntry, store: SchemaStore, *, show_pii: bool) -> dict[str, Any]:
    letter = dict(entry.letter)
    command = entry.command(store)
    document: dict[str, Any] = {"partition": entry.partition, "offset": entry.offset,
                                "time": _time(entry.timestamp_ms)}
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
        letter = mask(letter, store.schemas.pii_fields(DEAD_LETTER) - {"value"})
    elif original_value is not None and command is None:
        letter["value"] = original_value
    document["dead_letter"] = letter
    return _jsonable(document)  # type: ignore[no-any-return]


def run_show(args: argparse.Namespace) -> int:
    store = SchemaStore.from_directory()
    [entry] = dlq.pick(_entries(args, store), [args.address], args.topic)
    document = describe(entry, store, show_pii=args.show_pii)
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    letter = document["dead_letter"]
    print(f"dead letter {entry.address()} of {args.topic} at {document['time']}")
    for name in ("stage", "error_type", "reason", "attempts", "worker", "failed_at"):
        print(f"  {name}: {letter.get(name)}")
    print(f"  original: {letter['topic']}[{letter['partition']}]@{letter['offset']} at {letter.get('timestamp')}")
    print(f"  key: {letter.get('key')}")
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


def run_replay(args: argparse.Namespace) -> int:
    store = SchemaStore.from_directory()
    if bool(args.addresses) == bool(args.all):
        print("isthmus: give the OFFSETs to replay, or --all (optionally with --stage)", file=sys.stderr)
        return 2
    if args.stage and not args.all:
        print("isthmus: --stage goes with --all", file=sys.stderr)
        return 2
    entries = _entries(args, store)
    if args.all:
        picked = [e for e in entries if args.stage is None or e.stage == args.stage]
    else:
        picked = dlq.pick(entries, args.addresses, args.topic)
    done = asyncio.run(dlq.replay(_bootstrap(), args.topic, picked))
    rows = [{"dead_letter": r.entry.address(), "stage": r.entry.stage, "entity": r.entry.entity(store),
             "to": f"{r.topic}[{r.partition}]@{r.offset}"} for r in done]
    if args.json:
        print(json.dumps({"topic": args.topic, "replayed": rows}, indent=2, ensure_ascii=False))
    else:
        for row in rows:
            print(f"replayed {row['dead_letter']} ({row['stage']}, {row['entity']}) -> {row['to']}")
        print(f"{len(rows)} replayed", file=sys.stderr)
    return 0
