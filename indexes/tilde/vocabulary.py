"""Which WordPiece ids TILDEv2 scores and which it may append, as ielab/TILDE's code decides them.

Two lists, both built from NLTK's English stopwords (only those that are one WordPiece):
- scoring (``tools.get_stop_ids``, used for the index and the query): stopwords except the question words
  what/which/who/when/where/why/how, "##s", and whole-word tokens outside ``[A-Za-z0-9_-]``; other "##"
  pieces are scored. Special tokens are never scored.
- expansion (``expansion.clean_vacab``): all stopwords (its question-word exception is commented out) plus
  "definition", "##s", and whole-word tokens outside ``[A-Za-z0-9_-]``; other "##" pieces may be appended.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from core.stopwords import ENGLISH_STOPWORDS

QUESTION_WORDS = frozenset({"what", "which", "who", "when", "where", "why", "how"})
EXPANSION_EXTRA_STOPWORDS = frozenset({"definition"})
WHOLE_WORD = re.compile(r"^[A-Za-z0-9_-]*$")
RULES_VERSION = "ielab-tools-v1"  # part of every cache key that depends on these lists


def _blocked_ids(tokenizer: Any, stopwords: frozenset[str]) -> np.ndarray:
    vocab = tokenizer.get_vocab()
    blocked = np.zeros(max(vocab.values()) + 1, dtype=bool)
    for word in stopwords:
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            blocked[ids[0]] = True
    for token, token_id in vocab.items():
        subword = token.startswith("#") and len(token) > 1
        if token == "##s" or (not subword and not WHOLE_WORD.match(token)):
            blocked[token_id] = True
    blocked[list(tokenizer.all_special_ids)] = True
    return blocked


def scorable_token_mask(tokenizer: Any) -> np.ndarray:
    """Per vocabulary id: does TILDEv2 store its impact and count it in queries?"""
    return ~_blocked_ids(tokenizer, ENGLISH_STOPWORDS - QUESTION_WORDS)


def expandable_token_mask(tokenizer: Any) -> np.ndarray:
    """Per vocabulary id: may passage expansion append it?"""
    return ~_blocked_ids(tokenizer, ENGLISH_STOPWORDS | EXPANSION_EXTRA_STOPWORDS)
