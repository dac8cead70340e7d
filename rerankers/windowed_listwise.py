"""Listwise reranking over sliding windows; the windows of many queries are ranked in one batch."""
from __future__ import annotations

import time
from typing import Any

from haystack import Document

from core.device import torch_device
from rerankers.identifiers import Identifiers, single_token_identifiers
from rerankers.listwise_prompt import fix_prompt, listwise_template, passage_content
from rerankers.llm_reranker import LLMReranker, Ranking, RerankCounter, scores_from_order
from rerankers.sliding_window import apply_window, windows

WindowJob = tuple[str, list[Document], RerankCounter]  # (query, documents of the window, that query's counter)


class WindowedListwiseReranker(LLMReranker):
    """Sliding windows (default 20, stride 10, back to front). Subclasses order one batch of windows."""

    default_passage_words = 300

    def __init__(self, model: str | None = None, top_k: int = 10, passage_words: int | None = None, window: int = 20,
                 stride: int = 10, batch_size: int | None = None, template: dict[str, str] | None = None,
                 context_size: int = 4096, first_stage_weight: float | None = None) -> None:
        """``batch_size`` windows per forward: default 4 on CUDA, 1 on CPU (padded batches are slower there).
        ``template``: rank_llm-style sections (system_message, prefix, body, suffix); None = rank_zephyr alpha.
        ``context_size``: as rank_llm, passages of a window are cut shorter until its prompt plus the
        permutation fits."""
        super().__init__(model, top_k, passage_words, first_stage_weight)
        self.window = window
        self.stride = stride
        self.batch_size = batch_size or (4 if torch_device().startswith("cuda") else 1)
        self.template = listwise_template(template)
        self.context_size = context_size

    def init_parameters(self) -> dict[str, Any]:
        return {**super().init_parameters(), "window": self.window, "stride": self.stride,
                "batch_size": self.batch_size, "template": self.template.model_dump(),
                "context_size": self.context_size}

    def prompt(self, query: str, documents: list[Document], primed: bool = False,
               counter: RerankCounter | None = None) -> tuple[str, Identifiers]:
        """The ftfy-fixed chat prompt (rank_llm's ``create_prompt``, passages shortened until it fits
        ``context_size``; ``counter`` notes the words per passage kept); ``primed`` appends the identifiers' primer
        (FIRST reads the next token)."""
        identifiers = single_token_identifiers(self.llm.tokenizer, len(documents))
        labels = list(identifiers.labels)
        output_tokens = self.llm.count_tokens(" > ".join(f"[{label}]" for label in labels))
        words = self.passage_words
        while True:
            user = self.template.user_message(query, [passage_content(d, words) for d in documents], labels)
            prompt = fix_prompt(self.llm.chat_prompt(user, self.template.system_message or None))
            excess = self.llm.count_tokens(prompt) + output_tokens - self.context_size
            if excess <= 0 or words <= 1:
                break
            words -= max(1, excess // (len(documents) * 4))
        if counter is not None:
            counter.note_passage_words(words)
        return prompt + (identifiers.primer if primed else ""), identifiers

    def _order_windows(self, jobs: list[WindowJob]) -> list[list[int]]:
        raise NotImplementedError

    def _rank(self, query: str, documents: list[Document], counter: RerankCounter) -> Ranking:
        return self.rank_many([query], [documents], [counter])[0]

    def rank_many(self, queries: list[str], documents: list[list[Document]],
                  counters: list[RerankCounter]) -> list[Ranking]:
        """Window round r of every query goes into one batch: rounds are sequential, queries are not."""
        orders = [list(range(len(docs))) for docs in documents]
        schedules = [windows(len(docs), self.window, self.stride) for docs in documents]
        for round_index in range(max(len(s) for s in schedules)):
            active = [q for q, schedule in enumerate(schedules) if round_index < len(schedule)]
            jobs = []
            for q in active:
                start, end = schedules[q][round_index]
                jobs.append((queries[q], [documents[q][i] for i in orders[q][start:end]], counters[q]))
            for q, window_order in zip(active, self._order_windows(jobs)):
                orders[q] = apply_window(orders[q], schedules[q][round_index][0], window_order)
        return [scores_from_order(order) for order in orders]

    def run_batch(self, queries: list[str], documents: list[list[Document]], top_k: int | None = None) -> list[dict[str, Any]]:
        """Rerank several queries' candidates together (batch evaluation); per-query meta as in ``run``."""
        for query, docs in zip(queries, documents):
            self.validate(query, docs)
        counters = [RerankCounter() for _ in queries]
        began = time.perf_counter()
        rankings = self.rank_many(queries, documents, counters)
        seconds = (time.perf_counter() - began) / max(len(queries), 1)
        return [self.package(docs, ranking, counter, seconds, top_k)
                for docs, ranking, counter in zip(documents, rankings, counters)]
