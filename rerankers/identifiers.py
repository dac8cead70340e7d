"""Passage identifiers whose first generated token is one token that names exactly one passage.

Tokenizers split "[A]" in one of two ways: "[", "A", "]" (Llama/Mistral/SmolLM) or "[A", "]" (Qwen).
In the first case the assistant turn is primed with "[" and the identifier token is "A"; in the second
nothing is primed and the identifier token is "[A". Either way one forward step scores every passage.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import Any

from core.errors import InvalidInputError


@dataclass(frozen=True)
class Identifiers:
    labels: tuple[str, ...]
    token_ids: tuple[int, ...]
    primer: str  # what the assistant turn starts with before the identifier token ("[" or "")


def _candidates() -> list[str]:
    letters = list(string.ascii_uppercase) + list(string.ascii_lowercase)
    return letters + ["".join(p) for p in product(string.ascii_uppercase, repeat=2)]


@lru_cache(maxsize=8)
def _all_identifiers(tokenizer: Any) -> Identifiers:
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)
    open_ids, close_ids = encode("["), encode("]")
    merged = len(encode("[A]")) == 2 and encode("[A]")[1:] == close_ids
    labels, token_ids = [], []
    for label in _candidates():
        bracketed = encode(f"[{label}]")
        if merged:
            ok = len(bracketed) == 2 and bracketed[1:] == close_ids
            token = bracketed[0]
        else:
            ok = len(bracketed) == 3 and bracketed[:1] == open_ids and bracketed[2:] == close_ids
            token = bracketed[1] if ok else -1
        if ok and token not in token_ids:
            labels.append(label)
            token_ids.append(token)
    return Identifiers(tuple(labels), tuple(token_ids), "" if merged else "[")


def single_token_identifiers(tokenizer: Any, count: int) -> Identifiers:
    """The first ``count`` identifiers (A..Z, a..z, then two-letter labels) for this tokenizer."""
    found = _all_identifiers(tokenizer)
    if count > len(found.labels):
        raise InvalidInputError(
            f"The tokenizer has only {len(found.labels)} single-token identifiers; {count} passages cannot share "
            "one prompt: use sliding windows or fewer candidates."
        )
    return Identifiers(found.labels[:count], found.token_ids[:count], found.primer)
