"""An expanded passage as one string: the passage, a separator, then the appended WordPiece tokens.

ielab/TILDE appends expansion token *ids* to the passage's ids, "##" pieces included; no text spelling of
a lone "##ing" tokenizes back to that id, so the terms travel as WordPiece tokens after a separator that
the scorer splits on (the separator itself never reaches the model, as in the reference)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

EXPANSION_SEPARATOR = " \u241e "  # SYMBOL FOR RECORD SEPARATOR: never produced by our corpus readers


def join_expansion(passage: str, terms: Sequence[str]) -> str:
    return f"{passage}{EXPANSION_SEPARATOR}{' '.join(terms)}" if terms else passage


def expanded_token_ids(tokenizer: Any, text: str, max_tokens: int) -> list[int]:
    """The passage's WordPiece ids followed by the appended terms' ids, cut to ``max_tokens``."""
    passage, _, terms = text.partition(EXPANSION_SEPARATOR)
    ids = tokenizer(passage, add_special_tokens=False, truncation=True, max_length=max_tokens)["input_ids"]
    return (ids + tokenizer.convert_tokens_to_ids(terms.split()))[:max_tokens]
