"""The dynamic-retrieval loop shared by DRAGIN and its baselines: write one step (sentence) at a time;
after each, the policy may ask for passages, in which case the step is rewritten with them in the prompt."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from haystack import Document

from core.errors import InvalidInputError
from core.llm_backend import CallCounter, Generation, LLMBackend, get_llm
from core.settings import get_settings
from rag.answer_formats import FINAL, find_format
from rag.answer_prompt import answer_template, passage_block
from rag.dynamic.policies import POLICIES, Policy, Written
from rag.dynamic.words import is_newline, starts_with_space
from rag.retrieval import make_retriever

SENTENCE_END = [". ", "? ", "! ", "\n"]
CONTEXT_USER = "Context:\n{passages}\n\nQuestion: {question}"  # passages in the user turn, like the reference


@dataclass
class DynamicResult:
    answer: str
    output: str
    queries: list[str] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)  # every passage that was in a prompt, first use first
    lm_calls: int = 0
    seconds: float = 0.0
    counter: CallCounter = field(default_factory=CallCounter)
    parametric: dict[str, Any] | None = None  # DyPRAG: documents translated, translation time
    finish_reason: str = "length"  # "stop": the final answer or the end of generation was written

    def as_dict(self) -> dict[str, Any]:
        extra = {"parametric": self.parametric} if self.parametric else {}
        return {"answer": self.answer, "output": self.output, "finish_reason": self.finish_reason,
                "queries": self.queries,
                "retrieval_calls": len(self.queries), "lm_calls": self.lm_calls,
                "latency_ms": round(1000 * self.seconds, 3), **self.counter.as_dict(), **extra}


class DynamicAnswerer:
    """Answers with ``policy`` deciding when (and with which query) to retrieve top-``top_k`` passages.

    The answer is written one step at a time (a sentence; ``interval_tokens`` tokens for fixed-length) until
    ``max_new_tokens``, the final answer or the end of generation. As in the reference, retrieved passages
    serve only the step they were retrieved for: DRAGIN rewrites the flagged sentence with them and writes
    on without them; FLARE writes the rest of the answer with them; the fixed schedules retrieve anew for
    every chunk; single retrieval keeps its passages for the whole answer. ``max_retrievals`` (default: no
    cap, like the reference) bounds the retrievals per question. ``template``: the prompt sections ``system``,
    ``system_closed_book`` (both default to the format's closed-book system prompt), ``user`` ({passages},
    {question}) and ``user_closed_book`` ({question})."""

    def __init__(self, collection: str, policy: str = "dragin", retriever: str = "bm25", top_k: int = 3,
                 model: str | None = None, max_new_tokens: int = 96, sentence_tokens: int | None = None,
                 max_retrievals: int | None = None, answer_format: str = "short",
                 template: dict[str, str] | None = None, **policy_options: Any) -> None:
        if answer_format == "free":
            raise InvalidInputError("Dynamic retrieval writes its answer in the 'short' or 'yes-no' format.")
        self.form = find_format(answer_format)
        self.template = answer_template(self.form, template, system=self.form.system_closed_book,
                                        user=CONTEXT_USER)
        if policy not in POLICIES:
            raise InvalidInputError(f"Unknown dynamic retrieval '{policy}': choose one of {', '.join(POLICIES)}.")
        try:
            self.policy = Policy(policy, **policy_options)
        except TypeError as error:
            raise InvalidInputError(f"Invalid options for dynamic retrieval '{policy}': {error}.") from error
        self.retriever_name = retriever
        self.use_collection(collection)
        self.top_k = top_k
        self.model = model or get_settings().llm_model
        self.max_new_tokens = max_new_tokens
        self.sentence_tokens = sentence_tokens
        self.max_retrievals = max_retrievals

    def use_collection(self, collection: str) -> None:
        self.collection = collection
        self.retriever = make_retriever(self.retriever_name, collection)

    @property
    def llm(self) -> LLMBackend:
        return get_llm(self.model)

    def run(self, question: str, documents: list[Document] | None = None) -> DynamicResult:
        """Answer ``question``; ``documents`` (already retrieved) stay in the prompt instead of the policy's
        initial retrieval."""
        if not question.strip():
            raise InvalidInputError("The question must be a non-empty string.")
        began = time.perf_counter()
        result = DynamicResult(answer="", output="")
        documents = list(documents or [])
        used = list(documents)
        pending = None if documents else self.policy.initial_query(question)
        text, written, chunk = "", 0, []  # chunk: ids written since the last rewrite (DRAGIN re-encodes them)
        while (left := self.max_new_tokens - written) > 0:
            if pending and self._may_retrieve(result):
                documents = self._retrieve(pending, result, used)
            step = self._step(question, documents, text, left, result)
            if not step.token_ids:
                result.finish_reason = "stop"
                break
            pending = step.text.strip() if self.policy.scheduled else None
            query = None
            if not self.policy.scheduled and self._may_retrieve(result):
                query = self.policy.query(self.llm, Written(question, text, step, chunk), result.counter)
            if query:
                passages = self._retrieve(query, result, used)
                flare = self.policy.name == "flare"  # FLARE writes the rest with the passages, DRAGIN one sentence
                step = self._step(question, passages, text, left, result, sentence=not flare)
                chunk = []
            else:
                chunk += step.token_ids
            written += len(step.token_ids)
            text += step.text
            if FINAL.search(text) or step.finished:
                result.finish_reason = "stop"
                break
            if query and self.policy.name == "flare":
                break
        result.output = text.strip()
        result.documents = used
        result.answer = self.form.answer_span(result.output)
        result.seconds = time.perf_counter() - began
        return result

    def _may_retrieve(self, result: DynamicResult) -> bool:
        return self.max_retrievals is None or len(result.queries) < self.max_retrievals

    def _retrieve(self, query: str, result: DynamicResult, used: list[Document]) -> list[Document]:
        result.queries.append(query)
        documents = self.retriever.run(query, self.top_k)["documents"]
        seen = {d.id for d in used}
        used += [d for d in documents if d.id not in seen]
        return documents

    def _step(self, question: str, documents: list[Document], text: str, left: int, result: DynamicResult,
              sentence: bool = True) -> Generation:
        """The next step after ``text``: one sentence, or (fixed-length, or ``sentence=False``) up to a
        token count."""
        system, user = self.template.messages(question, passage_block(documents) if documents else None)
        prompt = self.llm.chat_prompt(user, system=system, assistant_prefix=text)
        result.lm_calls += 1
        if self.policy.name == "fixed-length":
            return self.llm.generate(prompt, min(left, self.policy.interval_tokens), result.counter)
        if not sentence:
            return self.llm.generate(prompt, left, result.counter)
        tokens = min(left, self.sentence_tokens or left)
        return first_sentence(self.llm, self.llm.generate(prompt, tokens, result.counter, stop_strings=SENTENCE_END))


def first_sentence(llm: LLMBackend, generation: Generation) -> Generation:
    """Drop the tokens after the first sentence end (a stop string matches one token late): the sentence
    ends at ".", "?" or "!" followed by a token that starts with whitespace, or at a newline. The text is
    kept exactly as generated — no space added or stripped —, so the next sentence starts with the token
    the model writes there (its leading space included)."""
    ids = generation.token_ids
    spaced = starts_with_space(llm.tokenizer, ids)
    breaks = is_newline(llm.tokenizer, ids)
    for keep in range(1, len(ids)):
        ends = llm.tokenizer.decode(ids[keep - 1:keep]).rstrip().endswith((".", "?", "!")) and spaced[keep]
        if ends or breaks[keep - 1]:
            return Generation(llm.tokenizer.decode(ids[:keep], skip_special_tokens=True), ids[:keep],
                              generation.logprobs[:keep], generation.entropies[:keep])
    return generation
