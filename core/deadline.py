"""Request deadlines: ``run_within`` answers by the deadline whether or not the work is done, and tells the work
to stop — model work checks ``check_deadline`` before each forward pass or decoding step and raises
``DeadlineExceeded``, so the model is freed soon after the caller has moved on. Loops over many inputs (passages to
encode, pairs to score, prompts to read) go through ``in_batches``, which keeps each forward pass small while a
deadline applies, so the work stops within one small batch of it."""
from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from core.errors import SiftragError

Result = TypeVar("Result")
Item = TypeVar("Item")
DeadlineScope = tuple[float, threading.Event]  # (monotonic end, cancelled)
_DEADLINE: contextvars.ContextVar[DeadlineScope | None] = contextvars.ContextVar(
    "siftrag_deadline", default=None)
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="deadline")
DEADLINE_BATCH = 8  # inputs per forward pass while a deadline applies, unless a slice's cost says otherwise
CHARS_PER_TOKEN = 4  # English text in WordPiece or BPE tokens, roughly
DEADLINE_TEXT_CHARS = CHARS_PER_TOKEN * 1024  # what an encoder reads per pass under a deadline: ~1,024 tokens, 4
# passages of 256 (MiniLM-L6 on 2 cores: ~0.3 CPU s; 64 of them in one pass: ~5 CPU s)


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


def in_batches(items: Sequence[Item], size: int, cost: Callable[[Item], int] | None = None,
               budget: int = DEADLINE_BATCH) -> Iterator[Sequence[Item]]:
    """``items`` in slices of ``size``, the deadline checked before each, so work done slice by slice stops within
    one slice of it. While a deadline applies, a slice also stays within ``budget``: at most that many items, or,
    with ``cost`` (e.g. an input's characters), rows × the largest cost ≤ ``budget`` (at least one item; give the
    items longest first, as padded batches are)."""
    limited = _DEADLINE.get() is not None
    start = 0
    while start < len(items):
        check_deadline()
        end = min(len(items), start + max(1, size))
        if limited and cost is None:
            end = min(end, start + budget)
        elif limited and cost is not None:
            largest = cost(items[start])
            for index in range(start + 1, end):
                largest = max(largest, cost(items[index]))
                if (index - start + 1) * largest > budget:
                    end = index
                    break
        yield items[start:end]
        start = end


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
