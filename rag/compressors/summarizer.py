"""Summarizers: text(s) → a summary within a token budget. The LLM one is the default; any object with
the same ``summarize`` signature can replace it (e.g. a fine-tuned T5, as in the TCRA paper)."""
from __future__ import annotations

from typing import Protocol

from core.llm_backend import CallCounter, LLMBackend
from core.prompt_template import PromptTemplate


class SummaryTemplate(PromptTemplate):
    """The summarization prompts: ``generic`` (query-independent) and ``focused`` (on the question)."""

    generic: str = ("Summarize the passage below in at most {words} words. Keep names, dates and numbers."
                    "\n\n{text}")
    focused: str = ("Summarize what the passages below say that helps answer the question, in at most "
                    "{words} words. Keep names, dates and numbers.\n\nQuestion: {question}\n\n{text}")

    placeholders = {"generic": (("text",), ("words",)), "focused": (("text", "question"), ("words",))}


class Summarizer(Protocol):
    def summarize(self, texts: list[str], max_tokens: list[int], question: str | None,
                  counter: CallCounter) -> list[str]:
        """One summary per text, each at most its ``max_tokens``; focused on ``question`` when given."""
        ...


class LLMSummarizer:
    """Summaries from the instruct LLM, batched; each is cut to its token budget at a word boundary."""

    def __init__(self, llm: LLMBackend, batch_size: int = 8,
                 template: SummaryTemplate = SummaryTemplate()) -> None:
        self.llm = llm
        self.batch_size = batch_size
        self.template = template

    def summarize(self, texts: list[str], max_tokens: list[int], question: str | None,
                  counter: CallCounter) -> list[str]:
        order = sorted(range(len(texts)), key=lambda i: max_tokens[i])  # similar budgets share a batch
        by_index: dict[int, str] = {}
        for start in range(0, len(order), self.batch_size):
            chosen = order[start:start + self.batch_size]
            prompts = [self._prompt(texts[i], max_tokens[i], question) for i in chosen]
            outputs = self.llm.generate_batch(prompts, max(max_tokens[i] for i in chosen), counter, self.batch_size)
            for i, output in zip(chosen, outputs):
                by_index[i] = self._cut(output, max_tokens[i])
        return [by_index[i] for i in range(len(texts))]

    def _prompt(self, text: str, max_tokens: int, question: str | None) -> str:
        words = max(5, int(max_tokens * 0.7))  # ~1.4 tokens per English word
        template = self.template.focused if question else self.template.generic
        return self.llm.chat_prompt(template.format(words=words, text=text, question=question))

    def _cut(self, summary: str, max_tokens: int) -> str:
        words = " ".join(summary.split()).split(" ")
        while words and self.llm.count_tokens(" ".join(words)) > max_tokens:
            words.pop()
        return " ".join(words)
