"""Which certificate a worker thread is busy with, so log lines of parallel runs can name it.

Does not: log anything itself.
"""

from __future__ import annotations

import contextvars

current_certificate: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_certificate", default=None
)
