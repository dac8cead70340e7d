"""Answer generation with the local LLM: the numbered-passage prompt, citations, cost in the meta."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from core.errors import InvalidInputError, TooLargeError
from core.llm_backend import CallCounter, LLMBackend, get_llm
from core.settings import get_settings
from rag.answer_prompt import answer_messages, cited_numbers


@component
class AnswerGenerator:
    """Writes an answer from ``documents`` (closed-book when there are none) and names the cited ones."""

    def __init__(self, model: str | None = None, max_new_tokens: int = 64) -> None:
        if max_new_tokens < 1:
            raise InvalidInputError("max_new_tokens must be at least 1.")
        self.model = model or get_settings().llm_model
        self.max_new_tokens = max_new_tokens

    @property
    def llm(self) -> LLMBackend:
        return get_llm(self.model)

    def prompt(self, question: str, documents: list[Document]) -> str:
        """The chat prompt; too long a context is a 413 that says by how much."""
        if not question.strip():
            raise InvalidInputError("The question must be a non-empty string.")
        system, user = answer_messages(question, documents)
        prompt = self.llm.chat_prompt(user, system=system)
        needed = self.llm.count_tokens(prompt) + self.max_new_tokens
        if needed > self.llm.context_length:
            raise TooLargeError(
                f"The prompt with {len(documents)} passages needs {needed} tokens (answer included) but "
                f"{self.model} reads at most {self.llm.context_length}: retrieve fewer passages or compress them.")
        return prompt

    @component.output_types(answer=str, documents=list[Document], meta=dict)
    def run(self, query: str, documents: list[Document]) -> dict[str, Any]:
        """``answer``: the generated text; ``documents``: the cited passages, in citation order."""
        prompt = self.prompt(query, documents)
        counter = CallCounter()
        began = time.perf_counter()
        text = self.llm.generate(prompt, self.max_new_tokens, counter).text.strip()
        return self.result(text, documents, counter, time.perf_counter() - began)

    def stream(self, query: str, documents: list[Document], cancel: threading.Event,
               counter: CallCounter) -> Iterator[str]:
        """The answer's text pieces as they are generated; ``cancel`` stops the model."""
        prompt = self.prompt(query, documents)
        yield from self.llm.stream(prompt, self.max_new_tokens, cancel, counter)

    def result(self, text: str, documents: list[Document], counter: CallCounter, seconds: float) -> dict[str, Any]:
        cited = [documents[n - 1] for n in cited_numbers(text, len(documents))]
        meta = {"model": self.model, "latency_ms": round(1000 * seconds, 3), **counter.as_dict()}
        return {"answer": text, "documents": cited, "meta": meta}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, max_new_tokens=self.max_new_tokens)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AnswerGenerator":
        return default_from_dict(cls, data)
