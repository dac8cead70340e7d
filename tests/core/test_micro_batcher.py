"""Dynamic batching: concurrent callers share model calls and each gets exactly its own results; errors reach the
callers of their batch only; the real query encoder gives the same embeddings batched as alone."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core.micro_batcher import MicroBatcher


def test_concurrent_callers_share_calls_and_get_their_own_slices() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def square(items: list[int]) -> list[int]:
        gate.wait(5)  # hold the first call so the others queue behind it
        calls.append(len(items))
        return [i * i for i in items]

    batcher = MicroBatcher(square, max_wait_ms=20, max_items=64)
    requests = [[n, n + 100] for n in range(24)]
    with ThreadPoolExecutor(24) as pool:
        futures = [pool.submit(batcher.run, r) for r in requests]
        gate.set()
        results = [f.result(timeout=10) for f in futures]
    assert results == [[a * a, b * b] for a, b in requests]
    assert sum(calls) == 48 and len(calls) < 24 and max(calls) <= 64


def test_batches_respect_max_items_and_a_large_request_runs_alone() -> None:
    sizes: list[int] = []
    batcher = MicroBatcher(lambda items: sizes.append(len(items)) or list(items), max_wait_ms=30, max_items=5)
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda n: batcher.run([n, n]), range(12)))
    assert results == [[n, n] for n in range(12)] and max(sizes) <= 5
    assert batcher.run(list(range(9))) == list(range(9))


def test_chunks_run_shortest_first_and_answer_their_callers_before_later_chunks() -> None:
    """A collected batch runs in calls of ``chunk_items``, ordered by size (similar lengths pad together); a
    caller whose chunk is done has its result while later chunks still run."""
    calls: list[list[str]] = []
    entered, gate, release_later = threading.Event(), threading.Event(), threading.Event()

    def run(items: list[str]) -> list[int]:
        entered.set()
        gate.wait(5)  # hold the first call so the other requests queue into one batch behind it
        calls.append(list(items))
        if len(calls) > 2:
            release_later.wait(5)  # the later chunks wait until the first chunk's callers were answered
        return [len(item) for item in items]

    batcher = MicroBatcher(run, max_wait_ms=50, max_items=64, chunk_items=4, size=len)
    texts = ["x" * n for n in (9, 1, 7, 3, 5, 2, 8, 4, 6, 10, 11, 12)]
    with ThreadPoolExecutor(len(texts)) as pool:
        first = pool.submit(batcher.run, [texts[0]])
        assert entered.wait(5)  # the first request is being served alone
        futures = {text: pool.submit(batcher.run, [text]) for text in texts[1:]}
        threading.Event().wait(0.1)
        gate.set()
        assert first.result(5) == [9]
        assert futures["x"].result(5) == [1], "the shortest chunk's callers are answered while later chunks wait"
        assert not futures["x" * 12].done()
        release_later.set()
        assert all(future.result(5) == [len(text)] for text, future in futures.items())
    assert [len(call) for call in calls[1:]] == [4, 4, 3]
    assert [[len(item) for item in call] for call in calls[1:]] == [[1, 2, 3, 4], [5, 6, 7, 8], [10, 11, 12]]


def test_an_error_reaches_its_callers_and_the_batcher_keeps_serving() -> None:
    def fail_on_negative(items: list[int]) -> list[int]:
        if any(i < 0 for i in items):
            raise ValueError("negative item")
        return items

    batcher = MicroBatcher(fail_on_negative, max_wait_ms=0, max_items=8)
    with pytest.raises(ValueError, match="negative item"):
        batcher.run([-1])
    assert batcher.run([3]) == [3]
    short = MicroBatcher(lambda items: items[:-1], max_wait_ms=0, max_items=8, name="short")
    with pytest.raises(RuntimeError, match="short: 2 items gave 1 results"):
        short.run([1, 2])


def test_an_idle_worker_ends_and_the_next_call_starts_one(monkeypatch) -> None:
    import core.micro_batcher

    monkeypatch.setattr(core.micro_batcher, "IDLE_EXIT_S", 0.05)
    batcher = MicroBatcher(lambda items: [2 * i for i in items], max_wait_ms=0, name="idle")
    assert batcher.run([1]) == [2]
    first = batcher._worker
    first.join(2)
    assert not first.is_alive() and batcher._worker is None, "idle worker ended (what it held can be freed)"
    assert batcher.run([3, 4]) == [6, 8] and batcher._worker is not first


def test_max_items_one_runs_on_the_callers_thread() -> None:
    threads: list[str] = []
    batcher = MicroBatcher(lambda items: threads.append(threading.current_thread().name) or items, max_items=1)
    assert batcher.run([7]) == [7] and threads == [threading.current_thread().name]


def test_query_encoder_batched_equals_alone() -> None:
    from indexes.encoder import get_encoder

    encoder = get_encoder("all-minilm-l6-v2")
    queries = [f"does vitamin {c} deficiency cause disease number {n}" * (1 + n % 3)
               for n, c in enumerate("ABCDEFGHIJKLMNOPQRST")]  # more than one CPU chunk
    alone = np.stack([encoder.encode([q])[0] for q in queries])
    with ThreadPoolExecutor(len(queries)) as pool:
        batched = np.stack(list(pool.map(lambda q: encoder.encode_queries([q])[0], queries)))
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert encoder.encode_queries([]).shape == (0, encoder.dim)
