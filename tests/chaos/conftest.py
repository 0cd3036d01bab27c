"""The chaos suite lives in the top-level ``chaos`` folder (not an installed package): import it from the clone."""

from __future__ import annotations

import sys

from streams.stack.settings import PROJECT_ROOT

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
