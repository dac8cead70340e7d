"""CRAG clustering compression: embed the passages, k-means them, summarize each cluster with the LLM,
and use the cluster summaries as the context.

Choice of k: the silhouette score (cosine) picks k in [2, max_clusters]; fewer than 3 passages form one
cluster. The summaries are query-independent by default, as in the CRAG paper (a cluster is summarized for
what it says, whatever was asked); ``query_focused=True`` asks the summarizer for what helps answer the
question instead. Every summary is capped at ``summary_tokens``, so the context never exceeds
max_clusters × summary_tokens however many passages were retrieved."""
from __future__ import annotations

from typing import Any

import numpy as np
from haystack import Document, component
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from core.errors import InvalidInputError
from core.llm_backend import CallCounter
from core.prompt_template import parse_template
from core.settings import get_settings
from indexes.document_store import indexable_text
from indexes.encoder import get_encoder
from rag.compressors.compressor import Compressor
from rag.compressors.summarizer import LLMSummarizer, Summarizer, SummaryTemplate
from rerankers.llm_reranker import truncate_words


def choose_clusters(vectors: np.ndarray, max_clusters: int, seed: int = 0) -> np.ndarray:
    """Cluster labels for the rows of ``vectors``: k-means with the k of best silhouette."""
    n = len(vectors)
    if n < 3 or max_clusters < 2:
        return np.zeros(n, dtype=int)
    best_labels, best_score = np.zeros(n, dtype=int), -2.0
    for k in range(2, min(max_clusters, n - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(vectors)
        if len(set(labels)) < 2:
            continue
        score = silhouette_score(vectors, labels, metric="cosine")
        if score > best_score:
            best_labels, best_score = labels, score
    return best_labels


@component
class ClusterCompressor(Compressor):
    """One summary per k-means cluster of the passages, clusters ordered by their best-ranked member.

    ``template``: the summarizer's sections ``generic`` and ``focused`` (when ``query_focused``); None =
    the default prompts."""

    method = "crag"

    def __init__(self, model: str | None = None, max_clusters: int = 4, summary_tokens: int = 80,
                 passage_words: int = 120, query_focused: bool = False, embedding_model: str | None = None,
                 summarizer: Summarizer | None = None, template: dict[str, str] | None = None) -> None:
        if max_clusters < 1 or summary_tokens < 8 or passage_words < 1:
            raise InvalidInputError("max_clusters must be ≥ 1, summary_tokens ≥ 8 and passage_words ≥ 1.")
        Compressor.__init__(self, model)
        self.max_clusters = max_clusters
        self.summary_tokens = summary_tokens
        self.passage_words = passage_words
        self.query_focused = query_focused
        self.embedding_model = embedding_model or get_settings().embedding_model
        self._summarizer = summarizer
        self.template = parse_template(SummaryTemplate, template, "summary")

    def warm_up(self) -> None:
        """Load the LLM and the sentence encoder into the caches ``run`` reads, before the first ``run``."""
        Compressor.warm_up(self)
        get_encoder(self.embedding_model)

    @property
    def summarizer(self) -> Summarizer:
        return self._summarizer or LLMSummarizer(self.llm, self.max_clusters, self.template)

    def _compress(self, query: str, documents: list[Document], counter: CallCounter) -> list[Document]:
        texts = [truncate_words(indexable_text(d).replace("\n", ": ", 1), self.passage_words) for d in documents]
        labels = choose_clusters(get_encoder(self.embedding_model).encode(texts), self.max_clusters)
        clusters = sorted({int(label) for label in labels}, key=lambda c: int(np.argmax(labels == c)))
        members = [[i for i in range(len(documents)) if labels[i] == c] for c in clusters]
        summaries = self.summarizer.summarize(
            ["\n\n".join(texts[i] for i in group) for group in members], [self.summary_tokens] * len(members),
            query if self.query_focused else None, counter)
        return [Document(id=f"cluster-{n}", content=summary,
                         meta={"source_ids": [documents[i].id for i in group], "cluster": n})
                for n, (summary, group) in enumerate(zip(summaries, members), start=1)]

    def init_parameters(self) -> dict[str, Any]:
        return {**Compressor.init_parameters(self), "max_clusters": self.max_clusters,
                "summary_tokens": self.summary_tokens, "passage_words": self.passage_words,
                "query_focused": self.query_focused, "embedding_model": self.embedding_model,
                "template": self.template.model_dump()}
