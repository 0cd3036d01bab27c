"""``python -m reference.simulate --rate R --seconds T --seed S``: edits on both reference apps.

The apps are the stack's (``ISTHMUS_CRM_API_PORT``, ``ISTHMUS_ERP_API_PORT``) unless ``--crm-url`` and
``--erp-url`` say otherwise; both must be loopback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reference.simulate.runner import SimulationSpec, simulate
from streams.errors import IsthmusError
from streams.stack.settings import StackSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference.simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, required=True, help="actions per second (at most 1000)")
    parser.add_argument("--seconds", type=float, required=True, help="stop after this long")
    parser.add_argument("--seed", type=int, required=True, help="the same seed makes the same choices")
    parser.add_argument("--max-actions", type=int, default=None,
                        help="stop after this many (default rate x seconds)")
    parser.add_argument("--crm-url", default=None, help="the reference CRM (default: the stack's)")
    parser.add_argument("--erp-url", default=None, help="the reference ERP (default: the stack's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = StackSettings.from_env() if args.crm_url is None or args.erp_url is None else None
        spec = SimulationSpec(
            crm_url=args.crm_url or (settings.crm_api_url if settings else ""),
            erp_url=args.erp_url or (settings.erp_api_url if settings else ""),
            rate=args.rate, seconds=args.seconds, seed=args.seed, max_actions=args.max_actions)
        summary = simulate(spec, progress=lambda line: print(line, flush=True))
    except IsthmusError as exc:
        print(f"reference simulate: error: {exc}", file=sys.stderr)
        return 2
    print(summary.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
