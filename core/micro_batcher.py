"""Dynamic batching of concurrent model calls: requests from many threads run as one padded batch.

A caller hands its items to :meth:`MicroBatcher.run` and blocks until its slice of the batch's results comes back.
One worker thread takes every request queued so far, waits up to ``max_wait_ms`` for more (until ``max_items``),
runs them as one call and hands each caller its slice, so a lone request waits at most ``max_wait_ms`` and a
burst of requests shares one model call (the dynamic batching of Hugging Face TEI and infinity). With
``max_items`` 1 every call runs alone on the caller's thread, as without a batcher.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
IDLE_EXIT_S = 30.0  # an idle worker ends after this long (see _next_request)


class MicroBatcher(Generic[Item, Result]):
    """Runs ``run_batch`` (items → one result per item, in order) over the items of concurrent callers."""

    def __init__(self, run_batch: Callable[[list[Item]], Sequence[Result]], max_wait_ms: float = 2.0,
                 max_items: int = 64, name: str = "batcher") -> None:
        self.run_batch = run_batch
        self.max_wait_s = max(0.0, max_wait_ms) / 1000
        self.max_items = max(1, max_items)
        self.name = name
        self._queue: queue.SimpleQueue[tuple[list[Item], Future]] = queue.SimpleQueue()
        self._carried: tuple[list[Item], Future] | None = None  # too big for the last batch: leads the next
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def run(self, items: Sequence[Item]) -> list[Result]:
        """The results for ``items``, computed in a batch with whatever other callers sent meanwhile."""
        items = list(items)
        if self.max_items == 1 or len(items) >= self.max_items:
            return list(self.run_batch(items))
        future: Future = Future()
        self._queue.put((items, future))
        self._ensure_worker()  # after the put: a worker that found the queue empty has gone, or sees this
        return future.result()

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._worker.start()

    def _next_request(self) -> tuple[list[Item], Future] | None:
        """The next request, or None after ``IDLE_EXIT_S`` without one (the worker then ends, so that a batcher
        nobody uses any more, and the model its ``run_batch`` holds, can be freed; the next ``run`` starts one)."""
        while True:
            try:
                return self._queue.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._start_lock:
                    if self._queue.empty():
                        self._worker = None
                        return None

    def _serve(self) -> None:
        while True:
            first, self._carried = self._carried or self._next_request(), None
            if first is None:
                return
            batch = self._collect(first)
            items = [item for request, _ in batch for item in request]
            try:
                results = list(self.run_batch(items))
                if len(results) != len(items):
                    raise RuntimeError(f"{self.name}: {len(items)} items gave {len(results)} results")
            except BaseException as error:  # every caller of the batch gets the error, the worker goes on
                for _, future in batch:
                    future.set_exception(error)
                continue
            start = 0
            for request, future in batch:
                future.set_result(results[start:start + len(request)])
                start += len(request)

    def _collect(self, first: tuple[list[Item], Future]) -> list[tuple[list[Item], Future]]:
        """``first`` and the requests queued behind it, until ``max_items`` items or ``max_wait_ms`` passed."""
        batch, count = [first], len(first[0])
        deadline = time.monotonic() + self.max_wait_s
        while count < self.max_items:
            try:
                remaining = deadline - time.monotonic()
                request = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if count + len(request[0]) > self.max_items:
                self._carried = request
                break
            batch.append(request)
            count += len(request[0])
        return batch
