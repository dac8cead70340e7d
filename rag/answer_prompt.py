"""The answer prompt: numbered passages, the question, and the citation convention "[n]"."""
from __future__ import annotations

from haystack import Document

from indexes.document_store import indexable_text
from rag.answer_formats import CITATION, AnswerFormat, find_format
from rerankers.llm_reranker import truncate_words


def passage_block(documents: list[Document], passage_words: int | None = None) -> str:
    """``[1] title\\ntext`` blocks, one per document, numbered from 1; each cut to its first
    ``passage_words`` words when set."""
    return "\n\n".join(f"[{n}] {_cut(indexable_text(d).strip(), passage_words)}"
                       for n, d in enumerate(documents, start=1))


def _cut(text: str, words: int | None) -> str:
    """``text`` as it is when within ``words``, else the rerankers' word budget."""
    return text if words is None or len(text.split()) <= words else truncate_words(text, words)


def answer_messages(question: str, documents: list[Document], form: AnswerFormat | None = None,
                    passage_words: int | None = None) -> tuple[str, str, list[tuple[str, str]]]:
    """(system, user, demonstration turns) in answer format ``form`` (default ``free``); without documents
    the model answers closed-book."""
    form = form or find_format("free")
    if not documents:
        return form.system_closed_book, f"Question: {question.strip()}", form.example_turns(False)
    user = f"Passages:\n{passage_block(documents, passage_words)}\n\nQuestion: {question.strip()}"
    return form.system, user, form.example_turns(True)


def cited_numbers(answer: str, passages: int) -> list[int]:
    """The passage numbers (1-based, in order of first citation) that the answer cites and that exist."""
    seen: list[int] = []
    for match in CITATION.finditer(answer):
        number = int(match.group(1))
        if 1 <= number <= passages and number not in seen:
            seen.append(number)
    return seen


def unknown_citations(answer: str, passages: int) -> list[int]:
    """Numbers the answer cites in brackets that name no passage given (e.g. [7] with three passages)."""
    return sorted({int(m.group(1)) for m in CITATION.finditer(answer)} - set(range(1, passages + 1)))
