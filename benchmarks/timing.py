"""Latency helpers shared by the benchmarks."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds of samples in seconds."""
    ordered = sorted(samples)
    return 1000 * statistics.median(ordered), 1000 * ordered[int(0.95 * (len(ordered) - 1))]


def timed_each(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[float]:
    """Seconds each ``fn(item)`` call took."""
    samples = []
    for item in items:
        began = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - began)
    return samples
