"""A tuned encoder inherits its base model's relevance calibration only while its scores mean what the base's meant:
rows drawn from the shipped MiniLM calibration keep it; the same rankings with every cosine 0.3 higher (a model whose
scores drifted) do not; no base calibration, nothing inherited."""
from __future__ import annotations

import numpy as np
from haystack import Document

from evals.tuned_calibration import CALIBRATION_DEPTH, calibration_rows, inheritance_verdict
from rerankers.ranked_documents import MODEL_SCORE
from rerankers.relevance_calibration import find_calibration


def _rows(base, queries: int = 150, seed: int = 0) -> list[dict]:
    """Rankings whose relevance follows ``base`` (descending cosines, labels drawn with its probabilities)."""
    rng = np.random.default_rng(seed)
    rows = []
    for query in range(queries):
        cosines = np.sort(rng.uniform(0.1, 0.8, CALIBRATION_DEPTH))[::-1]
        for rank, cosine in enumerate(cosines, start=1):
            rows.append({"query_id": str(query), "rank": rank, MODEL_SCORE: float(cosine),
                         "relevant": bool(rng.random() < base.probability(rank, float(cosine)))})
    return rows


def test_drifted_scores_lose_the_inherited_calibration() -> None:
    base = find_calibration("embedding", "all-minilm-l6-v2")
    live = _rows(base)
    same = inheritance_verdict(base, live, _rows(base, seed=1))
    assert same["inherited"] and same["from"] == "all-minilm-l6-v2"
    drifted = [{**row, MODEL_SCORE: row[MODEL_SCORE] + 0.3} for row in _rows(base, seed=1)]
    verdict = inheritance_verdict(base, live, drifted)
    assert not verdict["inherited"] and "drifted" in verdict["reason"]
    assert verdict["held_out_ece"]["tuned"] > verdict["held_out_ece"]["live"] + verdict["tolerance"]
    assert not inheritance_verdict(None, live, live)["inherited"]


def test_calibration_rows_mark_each_querys_source_passage() -> None:
    ranked = [[Document(id=f"d{i}", meta={MODEL_SCORE: 0.9 - i / 100}) for i in range(30)],
              [Document(id="x", meta={MODEL_SCORE: 0.5}), Document(id="y", meta={MODEL_SCORE: 0.4})]]
    rows = calibration_rows(ranked, ["d3", "y"])
    assert len(rows) == CALIBRATION_DEPTH + 2
    assert [r["rank"] for r in rows if r["relevant"]] == [4, 2]
    assert {r["query_id"] for r in rows} == {"0", "1"}
