"""Sliding windows over a candidate list, from the back to the front (rank_llm's order and clamping)."""
from __future__ import annotations


def windows(n: int, window: int, stride: int) -> list[tuple[int, int]]:
    """(start, end) of each window, as rank_llm's ``_count_windows`` / batched sliding windows step them:
    the first ends at n; each next one ends ``stride`` earlier and starts ``stride`` earlier, clamped at 0;
    the one that reached 0 is the last. 25 candidates, window 20, stride 10 → (5, 25), (0, 15)."""
    end, start = n, max(n - window, 0)
    spans = []
    while end > start:
        spans.append((start, end))
        if start == 0:
            break
        end, start = end - stride, max(start - stride, 0)
    return spans


def apply_window(order: list[int], start: int, window_order: list[int]) -> list[int]:
    """Replace ``order[start:start+len(window_order)]`` with its items permuted by ``window_order``."""
    segment = order[start:start + len(window_order)]
    return order[:start] + [segment[i] for i in window_order] + order[start + len(window_order):]
