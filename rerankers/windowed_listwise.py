"""Listwise reranking over sliding windows; the windows of many queries are ranked in one batch."""
from __future__ import annotations

import time
from typing import Any

from haystack import Document

from core.device import torch_device
from core.llm_backend import CallCounter
from rerankers.identifiers import Identifiers, single_token_identifiers
from rerankers.listwise_prompt import SYSTEM, listwise_user_message
from rerankers.llm_reranker import LLMReranker, Ranking, scores_from_order
from rerankers.sliding_window import apply_window, window_starts

WindowJob = tuple[str, list[str], CallCounter]  # (query, passages of the window, that query's counter)


class WindowedListwiseReranker(LLMReranker):
    """Sliding windows (default 20, stride 10, back to front). Subclasses order one batch of windows."""

    def __init__(self, model: str | None = None, top_k: int = 10, passage_words: int = 100, window: int = 20,
                 stride: int = 10, batch_size: int | None = None) -> None:
        """``batch_size`` windows per forward: default 4 on CUDA, 1 on CPU (padded batches are slower there)."""
        super().__init__(model, top_k, passage_words)
        self.window = window
        self.stride = stride
        self.batch_size = batch_size or (4 if torch_device().startswith("cuda") else 1)

    def init_parameters(self) -> dict[str, Any]:
        return {**super().init_parameters(), "window": self.window, "stride": self.stride,
                "batch_size": self.batch_size}

    def prompt(self, query: str, passages: list[str], primed: bool = False) -> tuple[str, Identifiers]:
        """The chat prompt; ``primed`` appends the identifiers' primer (FIRST reads the next token)."""
        identifiers = single_token_identifiers(self.llm.tokenizer, len(passages))
        user = listwise_user_message(query, passages, list(identifiers.labels))
        return self.llm.chat_prompt(user, SYSTEM, identifiers.primer if primed else ""), identifiers

    def _order_windows(self, jobs: list[WindowJob]) -> list[list[int]]:
        raise NotImplementedError

    def _rank(self, query: str, documents: list[Document], counter: CallCounter) -> Ranking:
        return self.rank_many([query], [documents], [counter])[0]

    def rank_many(self, queries: list[str], documents: list[list[Document]],
                  counters: list[CallCounter]) -> list[Ranking]:
        """Window round r of every query goes into one batch: rounds are sequential, queries are not."""
        passages = [self.passages(docs) for docs in documents]
        orders = [list(range(len(docs))) for docs in documents]
        schedules = [window_starts(len(docs), self.window, self.stride) for docs in documents]
        for round_index in range(max(len(s) for s in schedules)):
            active = [q for q, schedule in enumerate(schedules) if round_index < len(schedule)]
            jobs = []
            for q in active:
                start = schedules[q][round_index]
                ids = orders[q][start:start + self.window]
                jobs.append((queries[q], [passages[q][i] for i in ids], counters[q]))
            for q, window_order in zip(active, self._order_windows(jobs)):
                orders[q] = apply_window(orders[q], schedules[q][round_index], window_order)
        return [scores_from_order(order) for order in orders]

    def run_batch(self, queries: list[str], documents: list[list[Document]], top_k: int | None = None) -> list[dict[str, Any]]:
        """Rerank several queries' candidates together (batch evaluation); per-query meta as in ``run``."""
        for query, docs in zip(queries, documents):
            self.validate(query, docs)
        counters = [CallCounter() for _ in queries]
        began = time.perf_counter()
        rankings = self.rank_many(queries, documents, counters)
        seconds = (time.perf_counter() - began) / max(len(queries), 1)
        return [self.package(docs, ranking, counter, seconds, top_k)
                for docs, ranking, counter in zip(documents, rankings, counters)]
