"""Request deadlines: ``run_within`` answers by the deadline whether or not the work is done, and tells the work
to stop — the LLM backend checks ``check_deadline`` before each forward pass or decoding step and raises
``DeadlineExceeded``, so the model is freed soon after the caller has moved on."""
from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from core.errors import SiftragError

Result = TypeVar("Result")
DeadlineScope = tuple[float, threading.Event]  # (monotonic end, cancelled)
_DEADLINE: contextvars.ContextVar[DeadlineScope | None] = contextvars.ContextVar(
    "siftrag_deadline", default=None)
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="deadline")


class DeadlineExceeded(SiftragError):
    """The request's deadline passed before the work finished."""

    http_status = 504


def current_deadline() -> DeadlineScope | None:
    """The deadline of the work running here, to hand to another thread (e.g. a batch worker), or None."""
    return _DEADLINE.get()


def expired(scope: DeadlineScope | None) -> bool:
    """Whether ``scope``'s deadline passed or its work was cancelled (what ``check_deadline`` raises for)."""
    return scope is not None and (scope[1].is_set() or time.monotonic() > scope[0])


def check_deadline() -> None:
    """Raise ``DeadlineExceeded`` when the current work's deadline has passed (no-op without one)."""
    scope = _DEADLINE.get()
    if expired(scope):
        scope[1].set()
        raise DeadlineExceeded("The deadline passed before the work finished.")


def run_within(work: Callable[[], Result], deadline_ms: int | None) -> Result | None:
    """``work()``, or None when it has not finished within ``deadline_ms`` (it is then told to stop at its next
    check). Without a deadline the work runs on the caller's thread."""
    if deadline_ms is None:
        return work()
    ends, cancel = time.monotonic() + deadline_ms / 1000, threading.Event()

    def scoped() -> Result:
        _DEADLINE.set((ends, cancel))
        return work()

    future = _POOL.submit(contextvars.copy_context().run, scoped)
    try:
        return future.result(timeout=max(0.0, ends - time.monotonic()))
    except (FutureTimeout, DeadlineExceeded):
        cancel.set()
        return None
