"""Claims knobs, read from the environment (so a worker process gets them too)."""

from __future__ import annotations

from portal.env import env


def chunk_size() -> int:
    """Expenses claimed per settlement chunk (one transaction each). Large:
    the fixed cost per chunk (ledger transaction, chunk row, commit) is then
    small beside the per-claim work, and one chunk holds its queue rows for
    a fraction of a second (docs/adr/0005)."""
    return env.int("CLAIMS_SETTLEMENT_CHUNK_SIZE", default=50000)


def chunk_pause() -> float:
    """Seconds to wait after each committed chunk: 0 in production; the
    fault tests set it so they can kill a worker between chunks."""
    return env.float("CLAIMS_SETTLEMENT_CHUNK_PAUSE", default=0.0)


def pause_inside_chunk() -> float:
    """Seconds to wait inside a chunk's transaction, before it commits (fault
    tests kill the worker there: the chunk must vanish entirely)."""
    return env.float("CLAIMS_SETTLEMENT_PAUSE_INSIDE_CHUNK", default=0.0)


def stall_seconds() -> float:
    """An unfinished settlement batch with no sign of a worker (task start or
    committed chunk) for this long is sent again by the stall sweeper
    (docs/adr/0005). Longer than one chunk takes; a batch sent twice is
    settled once all the same."""
    return env.float("CLAIMS_SETTLEMENT_STALL_SECONDS", default=180.0)
