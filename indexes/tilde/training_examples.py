"""Training groups for TILDEv2 from a corpus, queries and qrels: positives from qrels, hard negatives
from BM25 (bm25s, the ``bm25`` kind's tokenizer and parameters), passages expanded as the index expands them."""
from __future__ import annotations

from collections.abc import Callable

from indexes.bm25_index import bm25_rankings
from indexes.tilde.expansion_cache import expand_with_cache
from indexes.tilde.training import TrainingExample


def bm25_negatives(corpus: dict[str, str], queries: dict[str, str], qrels: dict[str, dict[str, int]],
                   depth: int) -> dict[str, list[str]]:
    """Per query, the top-``depth`` BM25 passages that are not judged relevant, best first."""
    rankings = bm25_rankings(corpus, queries, depth + 10)
    negatives = {}
    for query_id, ranked in rankings.items():
        relevant = {d for d, grade in qrels.get(query_id, {}).items() if grade > 0}
        negatives[query_id] = [d for d in ranked if d not in relevant][:depth]
    return negatives


def training_examples(corpus: dict[str, str], queries: dict[str, str], qrels: dict[str, dict[str, int]],
                      expand: Callable[[list[str]], list[str]] | None, expansion_top_k: int,
                      negatives_depth: int = 30) -> list[TrainingExample]:
    """One example per judged query; passages expanded (cached) when ``expand`` is given."""
    judged = {q: text for q, text in queries.items() if any(g > 0 for g in qrels.get(q, {}).values())}
    negatives = bm25_negatives(corpus, judged, qrels, negatives_depth)
    needed = sorted({d for q in judged for d in list(qrels[q]) + negatives[q] if d in corpus})
    texts = [corpus[d] for d in needed]
    if expand is not None:
        texts = expand_with_cache(texts, expansion_top_k, expand)
    passage = dict(zip(needed, texts))
    return [
        TrainingExample(query, [passage[d] for d, g in qrels[q].items() if g > 0 and d in passage],
                        [passage[d] for d in negatives[q]])
        for q, query in judged.items()
    ]
