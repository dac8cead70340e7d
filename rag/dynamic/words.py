"""Tokens → words, as DRAGIN merges them: a word starts at the first token, at a token that carries the
tokenizer's space marker ("Ġ" in byte-level BPE, "▁" in SentencePiece) and at a newline token; the other
tokens continue the word before them. The markers come from ``convert_ids_to_tokens``: ``decode([id])``
keeps the leading space for byte-level BPE but drops it for SentencePiece, so it cannot tell words apart.

A word is a content word when it has a letter or digit and is not a stopword (s_i of DRAGIN; no POS tagger
offline, so the NLTK stopword list stands in for its NOUN/ADJ/VERB/PROPN/NUM filter)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from core.stopwords import ENGLISH_STOPWORDS

EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")
SPACE_MARKERS = ("Ġ", "▁", " ")
NEWLINE_TOKENS = ("Ċ", "<0x0A>", "\n")


@dataclass(frozen=True)
class Word:
    text: str
    tokens: tuple[int, ...]  # positions in the token sequence

    @property
    def is_content(self) -> bool:
        bare = EDGE_PUNCTUATION.sub("", self.text).lower()
        return bool(re.search(r"[a-z0-9]", bare)) and bare not in ENGLISH_STOPWORDS


def starts_with_space(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> list[bool]:
    """For each token: does its text begin with whitespace (a space marker or a newline)?"""
    return [token.startswith(SPACE_MARKERS) or token.startswith(NEWLINE_TOKENS)
            for token in tokenizer.convert_ids_to_tokens(ids)]


def is_newline(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> list[bool]:
    """For each token: does it contain a line break?"""
    return [any(n in token for n in NEWLINE_TOKENS) for token in tokenizer.convert_ids_to_tokens(ids)]


def group_words(tokenizer: PreTrainedTokenizerBase, ids: list[int], offset: int = 0) -> list[Word]:
    """Words of the token sequence ``ids`` (token ``i`` is at position ``offset + i``)."""
    starts = starts_with_space(tokenizer, ids)
    breaks = is_newline(tokenizer, ids)
    spans: list[list[int]] = []
    for i in range(len(ids)):
        if not spans or starts[i] or breaks[i] or breaks[i - 1]:
            spans.append([])
        spans[-1].append(i)
    words = [Word(tokenizer.decode([ids[i] for i in span]).strip(), tuple(offset + i for i in span))
             for span in spans]
    return [w for w in words if w.text]
