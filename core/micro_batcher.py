"""Dynamic batching of concurrent model calls: requests from many threads run as one padded batch.

A caller hands its items to :meth:`MicroBatcher.run` and blocks until its slice of the batch's results comes back.
One worker thread takes every request queued so far, waits up to ``max_wait_ms`` for more (until ``max_items``),
runs them as one call and hands each caller its slice, so a lone request waits at most ``max_wait_ms`` and a
burst of requests shares one model call (the dynamic batching of Hugging Face TEI and infinity). With
``max_items`` 1 every call runs alone on the caller's thread, as without a batcher.

With ``chunk_items``, a collected batch runs as consecutive calls of at most that many items, requests ordered by
``size`` (e.g. text length) so each call pads its items to similar lengths, and each caller is answered as soon as
its chunk is done: on the CPU a transformer's cost per item rises with the padded length, and callers answered
early send their next request while later chunks run (a pipeline instead of waves of the whole batch).
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
                 max_items: int = 64, name: str = "batcher", chunk_items: int | None = None,
                 size: Callable[[Item], int] | None = None) -> None:
        self.run_batch = run_batch
        self.max_wait_s = max(0.0, max_wait_ms) / 1000
        self.max_items = max(1, max_items)
        self.name = name
        self.chunk_items = max(1, chunk_items or self.max_items)
        self.size = size
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
            for chunk in self._chunks(self._collect(first)):
                self._run_chunk(chunk)

    def _chunks(self, batch: list[tuple[list[Item], Future]]) -> list[list[tuple[list[Item], Future]]]:
        """The batch's requests in calls of at most ``chunk_items`` items (a larger request alone), by ``size``."""
        if self.size is not None:
            batch = sorted(batch, key=lambda request: max(map(self.size, request[0]), default=0))
        chunks: list[list[tuple[list[Item], Future]]] = []
        count = 0
        for request in batch:
            if not chunks or count + len(request[0]) > self.chunk_items:
                chunks.append([])
                count = 0
            chunks[-1].append(request)
            count += len(request[0])
        return chunks

    def _run_chunk(self, chunk: list[tuple[list[Item], Future]]) -> None:
        """One model call for the chunk's items; each caller gets its slice, or every caller the error."""
        items = [item for request, _ in chunk for item in request]
        try:
            results = list(self.run_batch(items))
            if len(results) != len(items):
                raise RuntimeError(f"{self.name}: {len(items)} items gave {len(results)} results")
        except BaseException as error:  # every caller of the chunk gets the error, the worker goes on
            for _, future in chunk:
                future.set_exception(error)
            return
        start = 0
        for request, future in chunk:
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
