"""`python -m chaos [--changes N]`: the chaos suite on a stack of its own (see chaos/README.md).

Unless ISTHMUS_HOME and the ISTHMUS_*_PORT settings say otherwise, the run uses /var/tmp/isthmus-chaos and ports
26xxx, so it never disturbs another stack; it starts that stack if need be and stops it at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: The chaos stack's own home and ports, below Linux's ephemeral range (32768-60999): a listening port in that
#: range can be taken at any moment as the local end of some outgoing connection (the worker once failed to
#: bind 46090 34 times in a row while other stacks ran).
CHAOS_ENV = {
    "ISTHMUS_HOME": "/var/tmp/isthmus-chaos",
    "ISTHMUS_KAFKA_PORT": "26092",
    "ISTHMUS_KAFKA_CONTROLLER_PORT": "26093",
    "ISTHMUS_CONNECT_PORT": "26083",
    "ISTHMUS_CRM_DB_PORT": "26432",
    "ISTHMUS_ERP_DB_PORT": "26306",
    "ISTHMUS_CRM_API_PORT": "26001",
    "ISTHMUS_ERP_API_PORT": "26002",
    "ISTHMUS_WORKER_PORT": "26090",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100_000,
                        help="simulated user actions on both systems (default 100000; 5000 for a quick run)")
    parser.add_argument("--rate", type=float, default=50.0, help="actions per second (default 50)")
    parser.add_argument("--seed", type=int, default=8, help="seed of the generator and the simulator")
    parser.add_argument("--repeats", type=int, default=2, help="how often each fault kind is injected (>= 2)")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds a target API is cut (default 60)")
    parser.add_argument("--poison", type=int, default=3, help="poison records injected (default 3)")
    parser.add_argument("--quiet", type=float, default=30.0,
                        help="seconds watched for writes after quiescence (default 30)")
    parser.add_argument("--fresh", action="store_true",
                        help="stop the chaos stack and delete its data first (the checks read whole topics and tables)")
    parser.add_argument("--keep-stack", action="store_true", help="leave the chaos stack running at the end")
    parser.add_argument("--brokers", type=int, choices=(1, 3), default=1,
                        help="1 (default): the chaos stack's one broker; 3: a 3-broker KRaft cluster (replication "
                             "factor 3, min.insync.replicas 2) and Connect on it, with the kill-broker fault")
    parser.add_argument("--broker-pause", type=float, default=20.0,
                        help="seconds a SIGKILLed broker stays down before it is started again (default 20)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the processes and the stack are stopped
    for name, value in CHAOS_ENV.items():
        os.environ.setdefault(name, value)
    from chaos.backends import Backend, SingleBroker, ThreeBrokers
    from chaos.runner import ChaosOptions, run
    from streams.errors import IsthmusError
    from streams.stack.manager import StackManager
    from streams.stack.settings import StackSettings

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    try:
        options = ChaosOptions(changes=args.changes, rate=args.rate, seed=args.seed, repeats=args.repeats,
                               outage_s=args.outage, poison=args.poison, quiet_s=args.quiet,
                               broker_pause_s=args.broker_pause)
        manager = StackManager(StackSettings.from_env())
        backend: Backend = ThreeBrokers(manager, say) if args.brokers == 3 else SingleBroker(manager)
        # In-process commands (connector deploys, topic tools) read the same runtime settings as the processes.
        os.environ.update(backend.client_env())
        if args.fresh:
            backend.wipe()
        backend.up()
        try:
            logs = Path(manager.settings.home) / "logs" / f"chaos-{time.strftime('%Y%m%dT%H%M%S')}"
            report = run(backend, options, logs=logs, env=dict(os.environ), say=say)
        finally:
            if not args.keep_stack:
                backend.down()
    except IsthmusError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    print(report.describe(), flush=True)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
