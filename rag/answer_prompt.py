"""The answer prompt: numbered passages, the question, and the citation convention "[n]"."""
from __future__ import annotations

import re

from haystack import Document

from indexes.document_store import indexable_text

SYSTEM = ("You answer questions from the numbered passages you are given. Reply with the answer first, in a few "
          "words, then the numbers of the passages that support it in brackets, e.g. \"Paris [2]\".")
SYSTEM_CLOSED_BOOK = "You answer questions. Reply with the answer only, in a few words."
CITATION = re.compile(r"\[(\d{1,3})\]")


def passage_block(documents: list[Document]) -> str:
    """``[1] title\\ntext`` blocks, one per document, numbered from 1."""
    return "\n\n".join(f"[{n}] {indexable_text(d).strip()}" for n, d in enumerate(documents, start=1))


def answer_messages(question: str, documents: list[Document]) -> tuple[str, str]:
    """(system, user) messages; without documents the model answers closed-book."""
    if not documents:
        return SYSTEM_CLOSED_BOOK, f"Question: {question.strip()}"
    return SYSTEM, f"Passages:\n{passage_block(documents)}\n\nQuestion: {question.strip()}"


def cited_numbers(answer: str, passages: int) -> list[int]:
    """The passage numbers (1-based, in order of first citation) that the answer cites and that exist."""
    seen: list[int] = []
    for match in CITATION.finditer(answer):
        number = int(match.group(1))
        if 1 <= number <= passages and number not in seen:
            seen.append(number)
    return seen


def short_answer(text: str) -> str:
    """The answer span used for scoring: the first line, without citations or an "Answer:" lead-in."""
    first = next((line for line in text.strip().splitlines() if line.strip()), "")
    first = CITATION.sub("", first)
    first = re.sub(r"^\s*(the\s+)?answer\s*(is)?\s*[:\-]?\s*", "", first, flags=re.IGNORECASE)
    return first.strip().rstrip(".").strip()
