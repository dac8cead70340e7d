"""Tokens → words: a word starts at a token whose text begins with a space (or at the first token), and
is a content word when it has a letter or digit and is not a stopword (s_i of DRAGIN; no POS tagger
offline, so the NLTK stopword list stands in for its NOUN/ADJ/VERB/PROPN/NUM filter)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.stopwords import ENGLISH_STOPWORDS

EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")


@dataclass(frozen=True)
class Word:
    text: str
    tokens: tuple[int, ...]  # positions in the token sequence

    @property
    def is_content(self) -> bool:
        bare = EDGE_PUNCTUATION.sub("", self.text).lower()
        return bool(re.search(r"[a-z0-9]", bare)) and bare not in ENGLISH_STOPWORDS


def group_words(pieces: list[str], offset: int = 0) -> list[Word]:
    """Words from decoded token pieces (``pieces[i]`` is token ``offset + i`` as text)."""
    words: list[Word] = []
    text, tokens = "", []
    for i, piece in enumerate(pieces):
        if piece[:1].isspace() and text.strip():
            words.append(Word(text.strip(), tuple(tokens)))
            text, tokens = "", []
        text += piece
        tokens.append(offset + i)
    if tokens and text.strip():
        words.append(Word(text.strip(), tuple(tokens)))
    return words
