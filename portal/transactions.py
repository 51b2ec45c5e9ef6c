"""Run a whole database transaction again when PostgreSQL aborted it to break
a deadlock or a serialization conflict (docs/adr/0001).

Ledger writes lock the accounts they touch in one global order (primary key),
so they do not deadlock with each other; this is the second line, for any
other pair of transactions whose locks cross. Only the outermost transaction
is retried: inside a transaction a caller opened, the error goes up to the
caller (whose work is rolled back too, so only it can run it again).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable

from django.db import OperationalError, transaction

from .errors import Busy

log = logging.getLogger(__name__)

# deadlock_detected, serialization_failure
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 4


def is_conflict(exc: BaseException | None) -> bool:
    """A deadlock or serialization failure (the driver's error is the cause
    of Django's ``OperationalError``)."""
    seen = 0
    while exc is not None and seen < 5:
        if getattr(exc, "sqlstate", None) in CONFLICT_SQLSTATES:
            return True
        exc = exc.__cause__
        seen += 1
    return False


def retry_on_conflict[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Call ``fn``; when its transaction was aborted by a deadlock or a
    serialization failure, call it again (up to ``ATTEMPTS`` times in all,
    after a short random pause). When the attempts run out: ``Busy`` (503,
    nothing written). ``fn`` must do all its writes in its own
    ``transaction.atomic()`` and nothing outside the database (it may run
    again)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if transaction.get_connection().in_atomic_block:
            return fn(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                if not is_conflict(exc):
                    raise
                if attempt == ATTEMPTS:
                    log.warning("%s: gave up after %d attempts: %s", fn.__name__, attempt, exc)
                    raise Busy() from exc
                log.info("%s: attempt %d aborted, retrying: %s", fn.__name__, attempt, exc)
                time.sleep(random.uniform(0, 0.05 * 2**attempt))
        raise AssertionError("unreachable")

    return wrapper
