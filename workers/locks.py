"""Exclusive locks so two builds of the same collection and index kind never run at once.

With Redis: a lock with a short TTL that the job's heartbeat extends, so a killed worker's lock
expires by itself. Embedded: an ``fcntl`` file lock in the data dir (released by the OS on exit).
"""
from __future__ import annotations

import fcntl
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from core.settings import get_settings

LOCK_TTL_S = 15.0


class HeldLock:
    """A held lock; ``refresh`` keeps a Redis lock alive (no-op for file locks and once released)."""

    def __init__(self, redis_lock: Any | None = None) -> None:
        self.redis_lock = redis_lock
        self.released = False

    def refresh(self) -> None:
        if self.redis_lock is not None and not self.released:
            self.redis_lock.reacquire()


@contextmanager
def exclusive(name: str, wait_s: float) -> Iterator[HeldLock]:
    """Hold the lock ``name`` for the block, waiting up to ``wait_s`` for it; TimeoutError otherwise."""
    settings = get_settings()
    if settings.redis_url:
        import redis

        client = redis.Redis.from_url(settings.redis_url)
        # thread_local=False: the job's heartbeat thread refreshes the lock that the job thread acquired.
        lock = client.lock(f"siftrag:lock:{name}", timeout=LOCK_TTL_S, blocking_timeout=wait_s, thread_local=False)
        if not lock.acquire():
            raise TimeoutError(f"Lock '{name}' is held by another job.")
        held = HeldLock(lock)
        try:
            yield held
        finally:
            held.released = True
            try:
                lock.release()
            except Exception:  # expired or taken over: nothing left to release
                pass
        return
    path = Path(settings.data_dir) / "locks" / f"{name.replace('/', '__')}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Lock '{name}' is held by another job.") from None
                time.sleep(0.1)
        held = HeldLock()
        try:
            yield held
        finally:
            held.released = True
            fcntl.flock(handle, fcntl.LOCK_UN)
