"""Sentence splitting without a language model (no NLTK/spaCy data offline): punctuation + a capital."""
from __future__ import annotations

import re

ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "no", "inc", "ltd", "co", "gen", "col",
                 "lt", "sgt", "capt", "rev", "mt", "ft", "jan", "feb", "mar", "apr", "aug", "sep", "sept", "oct",
                 "nov", "dec", "u.s", "e.g", "i.e", "etc", "approx", "ca"}
BOUNDARY = re.compile(r"([.!?][\"'”’)]*)\s+(?=[\"'“‘(]*[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``; a period after a known abbreviation or a single initial does not end one."""
    sentences: list[str] = []
    start = 0
    for match in BOUNDARY.finditer(text):
        candidate = text[start:match.end(1)].strip()
        last_word = candidate.rsplit(maxsplit=1)[-1].rstrip(".!?\"'”’)").lstrip("(\"'“‘").lower() if candidate else ""
        if last_word in ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        if candidate:
            sentences.append(candidate)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences
