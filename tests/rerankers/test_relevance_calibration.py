"""Calibrated relevance: the shipped calibrations load for the default models, probabilities stay in [0, 1] and
non-increasing along the ranking, the reranker's own score before fusion travels in each document's meta, and the
fit keeps only features whose sign makes sense."""
from __future__ import annotations

import json

import numpy as np
from haystack import Document

from evals.score_calibration import fit, quality
from rerankers.ranked_documents import MODEL_SCORE
from rerankers.registry import make_reranker
from rerankers.relevance_calibration import (
    CALIBRATIONS,
    find_calibration,
    relevance_scores,
    write_tuned_calibration,
)

RELEVANT = "Vitamin D deficiency lowers bone mineral density and raises the risk of fractures."
OTHERS = ["The Eiffel Tower is a wrought-iron lattice tower in Paris.",
          "Photosynthesis converts light energy into chemical energy in plants."]


def test_every_shipped_calibration_names_its_model_and_held_out_figures() -> None:
    for path in CALIBRATIONS.glob("*.json"):
        record = json.loads(path.read_text())
        assert find_calibration(record["method"], record["model"]) is not None, path.name
        held_out = record["held_out"]
        assert held_out["calibrated"]["ece"] < held_out["fallback_1_over_rank"]["ece"], path.name
        assert record["fitted_on"]["split"] == "train" and "test" in record["fitted_on"]["checked_disjoint_from"]


def test_the_embedding_rerankers_scores_are_probabilities_with_its_model_score() -> None:
    reranker = make_reranker("embedding")
    documents = [Document(id=str(i), content=text) for i, text in enumerate([OTHERS[0], RELEVANT, OTHERS[1]])]
    ranked = reranker.run(query="Does vitamin D deficiency cause fractures?", documents=documents)["documents"]
    assert ranked[0].id == "1" and all(MODEL_SCORE in d.meta for d in ranked)
    assert all(MODEL_SCORE not in d.meta for d in documents)  # the candidates' meta is not changed
    cosine = reranker.run(query="Does vitamin D deficiency cause fractures?", documents=documents[1:2])
    assert np.isclose(cosine["documents"][0].meta[MODEL_SCORE], ranked[0].meta[MODEL_SCORE])
    scores, calibrated = relevance_scores("embedding", reranker.model, [d.meta[MODEL_SCORE] for d in ranked])
    assert calibrated and scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert scores[0] > 0.5 > scores[1]


def test_without_a_calibration_the_fallback_is_one_over_rank() -> None:
    scores, calibrated = relevance_scores("listwise", "smollm2-135m-instruct", [None, None, None])
    assert not calibrated and scores == [1.0, 0.5, 1 / 3]
    assert find_calibration("embedding", "another-encoder") is None  # fitted for one model only


def test_the_fit_drops_a_feature_of_the_wrong_sign() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for query in range(200):  # relevance falls with the rank; the model score is anti-correlated noise
        for rank in range(1, 11):
            relevant = bool(rng.random() < 0.6 / rank)
            rows.append({"query_id": str(query), "rank": rank, MODEL_SCORE: -float(relevant) + rng.normal(0, 0.1),
                         "relevant": relevant})
    calibration = fit("embedding", None, rows, score_means=True)
    assert calibration.features == ("log_rank",) and calibration.coefficients[0] < 0
    probabilities = np.array([calibration.probability(r["rank"], None) for r in rows])
    assert quality(probabilities, np.array([r["relevant"] for r in rows]))["ece"] < 0.05


def test_a_tuned_models_calibration_is_read_from_beside_its_folder(tmp_path) -> None:
    base = find_calibration("embedding", "all-minilm-l6-v2")
    model, other = (tmp_path / "v1" / "docs-0123abcd"), (tmp_path / "v0" / "docs-other")
    model.mkdir(parents=True)
    other.mkdir(parents=True)
    assert find_calibration("embedding", str(other)) is None  # none written: 1/rank, flagged
    written = write_tuned_calibration("embedding", model, base, {"inherited": True})
    assert written.parent == model.parent and json.loads(written.read_text())["inherited_from"] == "all-minilm-l6-v2"
    tuned = find_calibration("embedding", str(model))
    assert tuned is not None
    assert (tuned.coefficients, tuned.intercept) == (base.coefficients, base.intercept)
    beside = model.parent / "docs-beside"  # the file beside the folder names it: another folder there gets none
    assert find_calibration("embedding", str(beside)) is None and find_calibration("pointwise", str(model)) is None
