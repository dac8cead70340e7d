"""Parse a generated ranking "[C] > [A] > …" or "[3] > [1] > …" robustly."""
from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"\[([A-Za-z]{1,2}|\d+)\]")


def parse_permutation(text: str, labels: list[str]) -> list[int]:
    """Indices in the generated order; unknown and repeated identifiers dropped, missing ones appended
    in their original order."""
    position = {label: i for i, label in enumerate(labels)}
    order: list[int] = []
    for label in _IDENTIFIER.findall(text):
        index = position.get(label)
        if index is not None and index not in order:
            order.append(index)
    return order + [i for i in range(len(labels)) if i not in order]
