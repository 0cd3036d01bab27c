"""``python -m reference.erp``: serve the reference ERP, configured by ``REFERENCE_*`` variables."""

from __future__ import annotations

import sys

from reference.common.exceptions import ReferenceAppError
from reference.common.server import serve
from reference.erp.app import create_app
from reference.erp.config import ErpConfig


def main() -> int:
    try:
        config = ErpConfig.from_env()
        app = create_app(config)
        serve(app, config.app.http_host, config.app.http_port)
    except ReferenceAppError as exc:
        print(f"reference erp: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
