"""Run a function on N real threads (each with its own database connection),
released together by a barrier; collect what each returned or raised."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def run_concurrently(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(i)`` on ``n`` threads at once. Returns each result, or the exception
    it raised, in thread order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
