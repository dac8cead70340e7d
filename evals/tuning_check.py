"""The check a tuning job makes before it publishes: on held-out synthetic queries (their source passage the one
relevant document), BM25's top 100 reranked by the ``embedding`` reranker with the collection's live encoder and with
the tuned one; nDCG@10 of each (and of BM25), the tuned model's Δ with its bootstrap CI, the paired t-test and
wins/ties/losses. The tuned model is published only when its mean is not below the live one's. The same rankings
decide whether it inherits its base model's relevance calibration (``evals/tuned_calibration.py``)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evals.metrics import per_query
from evals.significance import bootstrap_ci, paired_p_value
from evals.tuned_calibration import CALIBRATION_DEPTH, calibration_rows, inheritance_verdict
from indexes.collection import Collection
from rag.tuning.round_trip import SyntheticExample
from rerankers.embedding_reranker import EmbeddingReranker
from rerankers.relevance_calibration import Calibration

CHECK_DEPTH = 100
CUTOFF = 10


def _ranked_run(rankings: Sequence[Sequence[str]]) -> dict[str, dict[str, float]]:
    """A run whose scores keep each ranking's order exactly."""
    return {str(i): {doc_id: float(len(ids) - rank) for rank, doc_id in enumerate(ids)}
            for i, ids in enumerate(rankings)}


def tuned_vs_live(collection: Collection, examples: Sequence[SyntheticExample], live_model: str,
                  tuned_model: str, base_calibration: Calibration | None = None) -> dict[str, Any]:
    """The check's figures and its verdicts (``publish``; ``calibration``: whether the tuned model inherits
    ``base_calibration``, the relevance calibration fitted for the model it was tuned from)."""
    queries = [e.query for e in examples]
    candidates = collection.search("bm25", queries, CHECK_DEPTH)
    qrels = {str(i): {e.source_id: 1} for i, e in enumerate(examples)}
    rankings = {"bm25": [[d.id for d in docs[:CUTOFF]] for docs in candidates]}
    rows = {}
    for name, model in (("live", live_model), ("tuned", tuned_model)):
        reranker = EmbeddingReranker(model=model, top_k=CALIBRATION_DEPTH)
        ranked = [reranker.run(query=q, documents=docs)["documents"] if docs else [] for q, docs in
                  zip(queries, candidates)]
        rankings[name] = [[d.id for d in documents[:CUTOFF]] for documents in ranked]
        rows[name] = calibration_rows(ranked, [e.source_id for e in examples])
    scores = {}
    for name, ranked in rankings.items():
        values = per_query(_ranked_run(ranked), qrels)["nDCG@10"]
        scores[name] = np.array([values[str(i)] for i in range(len(queries))])
    difference = scores["tuned"] - scores["live"]
    _, p_value = paired_p_value(scores["tuned"], scores["live"], binary=False)
    low, high = bootstrap_ci(difference)
    delta = float(difference.mean()) if len(difference) else 0.0
    return {"queries": len(queries), "metric": "nDCG@10", "first_stage": f"bm25 top {CHECK_DEPTH}",
            **{name: round(float(values.mean()), 4) if len(values) else None for name, values in scores.items()},
            "delta": round(delta, 4), "delta_ci": [round(low, 4), round(high, 4)], "p_value": p_value,
            "wins_ties_losses": [int((difference > 0).sum()), int((difference == 0).sum()),
                                 int((difference < 0).sum())],
            "publish": bool(len(queries)) and delta >= 0,
            "calibration": inheritance_verdict(base_calibration, rows["live"], rows["tuned"])}
