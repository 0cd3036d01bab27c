"""``python -m reference.generate --customers N --seed S``: load sample data into the stack's CRM and ERP.

The databases are the stack's (``ISTHMUS_*`` settings and the stack's secrets, as ``isthmus up`` made
them); ``--crm-schema`` and ``--erp-database`` choose others, e.g. for an isolated test.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime

import psycopg
import pymysql

from reference.generate.data import GenerationSpec
from reference.generate.load import generate
from streams.errors import IsthmusError
from streams.stack.databases import connect_crm, connect_erp
from streams.stack.secrets import load_or_create
from streams.stack.settings import StackSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True, help="CRM customers (1 to 1,000,000)")
    parser.add_argument("--seed", type=int, required=True, help="the same seed gives the same data")
    parser.add_argument("--orders-per-customer", type=int, default=2,
                        help="each customer gets 0 to this many orders (default 2)")
    parser.add_argument("--skus", type=int, default=200, help="products, the same SKUs in both systems (200)")
    parser.add_argument("--first-customer", type=int, default=1, help="the first customer number (1)")
    parser.add_argument("--first-order", type=int, default=1, help="number of the first order (SO-000001)")
    parser.add_argument("--sku-prefix", default="SKU", help="SKUs are <prefix>-000001 ... (default SKU)")
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=None,
                        help="orders fall in the 90 days before this ISO time (default 2026-01-01T00:00Z)")
    parser.add_argument("--crm-schema", default="crm", help="CRM schema to load (default crm)")
    parser.add_argument("--erp-database", default=None,
                        help="ERP database to load, created if missing (default: the stack's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = GenerationSpec(
            customers=args.customers, seed=args.seed, orders_per_customer=args.orders_per_customer,
            skus=args.skus, first_customer=args.first_customer, first_order=args.first_order,
            sku_prefix=args.sku_prefix,
            **({"as_of": args.as_of} if args.as_of else {}))
        settings = StackSettings.from_env()
        secrets = load_or_create(settings.home)
        with connect_crm(settings, secrets, options=f"-c search_path={args.crm_schema}") as crm:
            erp = connect_erp(settings, secrets)
            try:
                if args.erp_database:
                    with erp.cursor() as cur:
                        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{args.erp_database}`")
                        cur.execute(f"USE `{args.erp_database}`")
                summary = generate(spec, crm=crm, erp=erp, crm_schema=args.crm_schema,
                                   progress=lambda line: print(line, flush=True))
            finally:
                erp.close()
    except IsthmusError as exc:
        print(f"reference generate: error: {exc}", file=sys.stderr)
        return 2
    except (psycopg.Error, pymysql.err.MySQLError) as exc:
        print(f"reference generate: error: database: {exc}; is the stack up (isthmus up)?", file=sys.stderr)
        return 2
    print(summary.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
