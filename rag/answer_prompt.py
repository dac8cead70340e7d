"""The answer prompt: numbered passages, the question, and the citation convention "[n]"."""
from __future__ import annotations

from collections.abc import Mapping

from haystack import Document

from core.prompt_template import PromptTemplate, parse_template
from indexes.document_store import indexable_text
from rag.answer_formats import CITATION, AnswerFormat, find_format
from rerankers.llm_reranker import truncate_words


class AnswerTemplate(PromptTemplate):
    """System messages with and without passages (default: the answer format's) and the user turns; the
    demonstrations are written in the same user turns."""

    system: str
    system_closed_book: str
    user: str = "Passages:\n{passages}\n\nQuestion: {question}"
    user_closed_book: str = "Question: {question}"

    placeholders = {"user": (("passages", "question"), ()), "user_closed_book": (("question",), ())}

    def messages(self, question: str, passages: str | None) -> tuple[str, str]:
        """(system, user) for ``question`` over the ``passages`` block, or closed-book when it is None."""
        if passages is None:
            return self.system_closed_book, self.user_closed_book.format(question=question.strip())
        return self.system, self.user.format(passages=passages, question=question.strip())


def answer_template(form: AnswerFormat, template: Mapping[str, str] | None = None,
                    **defaults: str) -> AnswerTemplate:
    """``template`` over the defaults: the system prompts of answer format ``form``, the user turns above and
    ``defaults``; a bad template is an InvalidInputError."""
    defaults = {"system": form.system, "system_closed_book": form.system_closed_book, **defaults}
    return parse_template(AnswerTemplate, template, "answer", **defaults)


def passage_block(documents: list[Document], passage_words: int | None = None) -> str:
    """``[1] title\\ntext`` blocks, one per document, numbered from 1; each cut to its first
    ``passage_words`` words when set."""
    return "\n\n".join(f"[{n}] {shown_text(d, passage_words)}" for n, d in enumerate(documents, start=1))


def shown_text(document: Document, words: int | None) -> str:
    """What the prompt shows of ``document``: its title and text, cut to the rerankers' word budget when longer
    than ``words``."""
    text = indexable_text(document).strip()
    return text if words is None or len(text.split()) <= words else truncate_words(text, words)


def answer_messages(question: str, documents: list[Document], form: AnswerFormat | None = None,
                    passage_words: int | None = None,
                    template: AnswerTemplate | None = None) -> tuple[str, str, list[tuple[str, str]]]:
    """(system, user, demonstration turns) in answer format ``form`` (default ``free``) and ``template``
    (default: the format's); without documents the model answers closed-book."""
    form = form or find_format("free")
    template = template or answer_template(form)
    if not documents:
        return *template.messages(question, None), form.example_turns(template.user_closed_book, False)
    passages = passage_block(documents, passage_words)
    return *template.messages(question, passages), form.example_turns(template.user, True)


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
