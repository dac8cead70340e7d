"""Sliding windows over a candidate list, from the back to the front (RankGPT/FIRST order)."""
from __future__ import annotations


def window_starts(n: int, window: int, stride: int) -> list[int]:
    """Start offsets: n-window, n-window-stride, …, 0. One window when n <= window."""
    if n <= window:
        return [0]
    starts = list(range(n - window, 0, -stride))
    if starts[-1] != 0:
        starts.append(0)
    return starts


def apply_window(order: list[int], start: int, window_order: list[int]) -> list[int]:
    """Replace ``order[start:start+len(window_order)]`` with its items permuted by ``window_order``."""
    segment = order[start:start + len(window_order)]
    return order[:start] + [segment[i] for i in window_order] + order[start + len(window_order):]
