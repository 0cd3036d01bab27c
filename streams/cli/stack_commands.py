"""`isthmus up`, `isthmus down`: the local stack; `isthmus status`: the local stack's services (when there is one)
and the whole pipeline's health on the cluster the settings point to (read by streams/cli/pipeline.py, judged by
streams/inspect/health.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import urlsplit

from streams.cli import environment
from streams.cli.commands import help_of
from streams.cli.pipeline import EXACT_LAG, STALL_AFTER_S, gather
from streams.cli.runtime import load_runtime
from streams.config import RuntimeSettings
from streams.inspect import health
from streams.stack.manager import StackManager
from streams.stack.offer import write_offer
from streams.stack.services import OPTIONAL_SERVICE_TYPES, SERVICE_TYPES
from streams.stack.settings import StackSettings

SERVICE_NAMES = [t.name for t in SERVICE_TYPES]
OPTIONAL_NAMES = [t.name for t in OPTIONAL_SERVICE_TYPES]

STATUS_EPILOG = f"""a sink joins no consumer group (it assigns itself its command topic's partitions; its transactional
id fences a second worker), so its group never has a member. Its state comes from its transactions instead
(DescribeTransactions on isthmus-sink-<system>, the principal needs DESCRIBE on that transactional id):
  running      it began a transaction (results, dead letters, offsets) within --stall-after seconds
  stalled      it runs (while records wait it commits its offsets again every 30 s at least, with its breaker's
               state), but applied nothing for longer than the bound: its target fails; do not start another
  idle         nothing waits for it, and no transaction within the bound (running or not, nothing is late)
  waiting      records wait, none for longer than the bound yet
  not running  records wait longer than the bound and no transaction began within it: stopped (or its commits
               to Kafka fail: its log says)
records waiting are records: up to {EXACT_LAG} offsets past a group's committed offset are read and counted (an
exactly-once producer's commit and abort markers take offsets too); a larger lag is shown as "about N" offsets.

exit codes:
  0  healthy: every connector and task RUNNING, every flow has workers, no sink late or behind, nothing held
  1  not healthy: a local stack service, Kafka or Kafka Connect down; a connector or task not RUNNING; a flow with
     no worker running (or never started); a sink not running (above); the last line names each
  2  an Isthmus error (settings that do not load)
  3  everything runs, but documents are held (`isthmus topics trace <key>` says why), dead letters are pending,
     or a flow or sink is behind: its oldest waiting record was written over --behind-after seconds ago"""


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help=help_of("up"),
                               description="Start the local stack: " + ", ".join(SERVICE_NAMES) + ". "
                               "Services already running are left alone. Optional services start only when named: "
                               + ", ".join(OPTIONAL_NAMES) + ". Each service started is waited for until it "
                               "answers, up to ISTHMUS_START_TIMEOUT_S seconds (default each service's own); one "
                               "that does not answer in time is left running: run `isthmus up` again to wait for "
                               "it again.")
    up.add_argument("services", nargs="*", metavar="SERVICE", help="only these (and what they need)")
    up.set_defaults(run=run_up)

    down = subparsers.add_parser("down", help=help_of("down"))
    down.add_argument("services", nargs="*", metavar="SERVICE", help="only these")
    down.set_defaults(run=run_down)

    status = subparsers.add_parser(
        "status", help=help_of("status"),
        description="One report of the whole pipeline on the cluster the settings point to: the local stack's\n"
                    "services (when there is a local stack), each connector and its tasks (a failed one with its\n"
                    "trace's root cause), each flow's and sink's consumer groups with their members (the workers\n"
                    "running) and lag per input topic, the dead letters and the documents held; the last line\n"
                    "says healthy or names what is not. Reads offsets, group and transaction descriptions and a\n"
                    f"few records past each group's committed offsets (at most {EXACT_LAG}), never whole topics.",
        epilog=STATUS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("--json", action="store_true", help="one JSON document (the verdict in 'verdict', "
                        "'problems', 'held' and 'exit_code')")
    status.add_argument("--settings", action="store_true", help="also list every ISTHMUS_* variable and its value")
    status.add_argument("--stall-after", type=float, default=STALL_AFTER_S, metavar="SECONDS",
                        help="a sink with a record waiting this long and no transaction begun for this long is not "
                             f"running (default {STALL_AFTER_S:.0f})")
    status.add_argument("--behind-after", type=float, default=health.BEHIND_AFTER_S, metavar="SECONDS",
                        help="a flow or sink that runs with a record waiting longer than this is behind: said, and "
                             f"exit 3 (default {health.BEHIND_AFTER_S:.0f})")
    status.set_defaults(run=run_status)


def run_up(args: argparse.Namespace) -> int:
    manager = StackManager(StackSettings.from_env())
    manager.up(args.services or None)
    running = [s.name for s in manager.status() if s.state == "running"]
    offered = write_offer(manager.settings, running)
    manager.progress.say(up_message(running, str(offered)))
    return 0


def up_message(running: list[str], offered: str) -> str:
    """What ``isthmus up`` says at the end: what runs, and where its settings are; with no Kafka or Connect of the
    stack's running, where yours are set instead (not the ports of services never started)."""
    said = (f"stack is up ({', '.join(running)}); `isthmus status` shows it, `isthmus down` stops it; its runtime "
            f"settings are in {offered} (the database passwords too: it is readable by you only)")
    missing = [name for name in ("kafka", "connect") if name not in running]
    if missing:
        said += (f"; its {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not running: set yours with "
                 + " and ".join({"kafka": "ISTHMUS_KAFKA_BOOTSTRAP_SERVERS", "connect": "ISTHMUS_CONNECT_URLS"}[m]
                                for m in missing)
                 + " (or a --config file), or start the stack's with `isthmus up " + " ".join(missing) + "`")
    return said


def run_down(args: argparse.Namespace) -> int:
    StackManager(StackSettings.from_env()).down(args.services or None)
    return 0


def run_status(args: argparse.Namespace) -> int:
    settings = StackSettings.from_env()
    runtime = load_runtime(args)
    services = [s.as_dict() for s in StackManager(settings).status()]
    # the local stack is shown when the runtime uses it (its broker is the stack's offer) or a service of it runs
    local = runtime.origins.get(("kafka", "bootstrap_servers")) == "stack" or any(s["pid"] for s in services)
    # a stack service the runtime uses that is not running is not waited for (Kafka's bootstrap takes seconds)
    down = {name: f"the local stack's {name} is {s['state']} (`isthmus up`)" for s in services
            for name, setting in (("kafka", ("kafka", "bootstrap_servers")), ("connect", ("connect", "urls")))
            if s["name"] == name and s["state"] != "running" and runtime.origins.get(setting) == "stack"}
    # a stack service the settings point away from (your own Kafka or Connect) is shown as not used, not judged
    used = used_services(settings, runtime)
    services = [{**s, "used": used.get(str(s["name"]), True)} for s in services]
    pipeline = gather(runtime, stack=services if local else None, stack_home=str(settings.home), down=down,
                      stall_s=args.stall_after, behind_s=getattr(args, "behind_after", health.BEHIND_AFTER_S))
    result = health.verdict(pipeline)
    if args.json:
        document = health.document(pipeline, result)
        if args.settings:
            document["settings"] = {v.env: v.value for v in environment.variables(settings, runtime_settings=runtime)}
        print(json.dumps(document, indent=2))
    else:
        lines = health.render(pipeline, result)
        if args.settings:
            lines[-1:-1] = ["", *environment.render(environment.variables(settings, runtime_settings=runtime)), ""]
        print("\n".join(lines))
    return result.code


def used_services(settings: StackSettings, runtime: RuntimeSettings) -> dict[str, bool]:
    """Whether the runtime settings use the local stack's Kafka and Connect: their addresses are the stack's
    (a loopback host, however written, and the stack's port)."""
    loopback = {settings.host, "127.0.0.1", "localhost", "::1"}

    def stack_address(host: str | None, port: int | None, stack_port: int) -> bool:
        return port == stack_port and (host or "").strip("[]") in loopback

    brokers = [server.rpartition(":") for server in runtime.kafka.bootstrap_servers]
    connect = [urlsplit(url) for url in runtime.connect.urls]
    return {"kafka": any(stack_address(host, int(port), settings.kafka_port) for host, _, port in brokers),
            "connect": any(stack_address(url.hostname, url.port, settings.connect_port) for url in connect)}
