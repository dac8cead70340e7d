"""Fit a rerank method's relevance calibration (``rerankers/relevance_calibration.py``) on judged pairs of a training
split and measure it on held-out queries of the same split.

Queries: the split's judged queries (checked disjoint from its evaluation splits), minus any query a shipped model
recorded training on (the pointwise adapter's ``data.query_ids``), split by a hash of the query id into a fitting
half and a held-out half. Each query's BM25 top-``depth`` passages are reranked as inline documents (no first-stage
scores: what Cohere, Jina and TEI clients send); each returned document gives (rank, model score, judged or not).
Rows are cached per method in ``--work`` (JSONL), so an interrupted run resumes. The fit is scikit-learn's
LogisticRegression; a feature whose coefficient has the wrong sign (a better rank or a higher model score must not
lower the probability) is dropped. Held-out figures: expected calibration error (10 equal-width bins), Brier score,
the share of relevant and of non-relevant documents above 0.5, beside the ``1 / rank`` fallback's, with 95%
bootstrap intervals over held-out queries and a paired bootstrap p.

    python -m evals.score_calibration embedding --queries 150
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from collections.abc import Iterable
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document
from sklearn.linear_model import LogisticRegression

from core.adapters import SHIPPED_MODELS
from evals.reranker_training_set import ids_digest, training_split
from indexes.bm25_index import bm25_rankings
from indexes.document_store import indexable_text
from rerankers.ranked_documents import MODEL_SCORE
from rerankers.registry import RERANK_METHODS, shared_reranker
from rerankers.training.examples import PairedExample
from rerankers.relevance_calibration import (
    CALIBRATIONS,
    FEATURES,
    Calibration,
    component_model,
    served_probabilities,
)

DATASET = Path(__file__).resolve().parents[1] / "data" / "sample" / "scifact"


def seen_by_shipped_models(dataset: str) -> set[str]:
    """Query ids of ``dataset`` that a shipped model's ``training.json`` records training on (one dataset's ids, or
    ``DATASET/ID`` of pooled ones)."""
    seen: set[str] = set()
    for record_path in SHIPPED_MODELS.glob("*/*/training.json"):
        data = json.loads(record_path.read_text()).get("data", {})
        if not isinstance(data, dict):
            continue
        if data.get("dataset") == dataset:
            seen.update(data.get("query_ids", []))
        elif any(part.get("dataset") == dataset for part in data.get("datasets", [])):
            seen.update(q.split("/", 1)[1] for q in data.get("query_ids", []) if q.startswith(f"{dataset}/"))
    return seen


def calibration_queries(dataset: str, judged: Iterable[str]) -> list[str]:
    """The judged training queries a calibration may fit and measure on: those no shipped model trained on, in a
    stable hashed order."""
    seen = seen_by_shipped_models(dataset)
    return sorted((q for q in judged if q not in seen), key=lambda q: hashlib.sha256(q.encode()).hexdigest())


def without_calibration_queries(examples: list[PairedExample]) -> tuple[list[PairedExample], dict[str, Any]]:
    """(the training ``examples`` minus the queries of the calibration dataset (SciFact train) that calibrations
    fit and measure on, a record of what was left out): a model that will ship must leave them unseen. Example ids
    are ``DATASET/QUERY_ID``; other datasets' examples all stay."""
    prefix = f"{DATASET.name}/"
    ids = [e.query_id.removeprefix(prefix) for e in examples if e.query_id.startswith(prefix)]
    reserved = {prefix + q for q in calibration_queries(DATASET.name, ids)}
    kept = [e for e in examples if e.query_id not in reserved]
    return kept, {"left_out_for_calibration": len(reserved), "left_out_ids_sha256": ids_digest(reserved)}


def held_out(query_id: str) -> bool:
    """Whether a query belongs to the held-out half (a stable hash of its id)."""
    return int(hashlib.sha256(query_id.encode()).hexdigest(), 16) % 2 == 1


def pair_rows(method: str, dataset: Path, queries_per_half: int, depth: int, work: Path) -> tuple[
        list[dict[str, Any]], dict[str, Any]]:
    """(one row per returned document: query, half, rank, model score, label; a record of the data), computing
    only the queries the cache in ``work`` lacks."""
    data, corpus, judged, checks = training_split(dataset, "train")
    usable = calibration_queries(dataset.name, judged)
    chosen = {half: [q for q in usable if held_out(q) == half][:queries_per_half] for half in (False, True)}
    wanted = chosen[False] + chosen[True]
    cache = work / f"pairs-{method}.jsonl"
    rows = [json.loads(line) for line in cache.read_text().splitlines()] if cache.exists() else []
    done = {row["query_id"] for row in rows}
    texts = {d: indexable_text(doc) for d, doc in corpus.items()}
    todo = {q: judged[q] for q in wanted if q not in done}
    component = shared_reranker(method)
    if todo:
        rankings = bm25_rankings(texts, todo, depth)
        with cache.open("a") as out:
            for number, (query_id, query) in enumerate(todo.items(), start=1):
                began = time.perf_counter()
                documents = [Document(id=d, content=texts[d]) for d in rankings[query_id]]
                ranked = component.run(query=query, documents=documents, top_k=len(documents))["documents"]
                relevant = {d for d, grade in data.qrels[query_id].items() if grade > 0}
                for rank, document in enumerate(ranked, start=1):
                    row = {"query_id": query_id, "held_out": held_out(query_id), "rank": rank,
                           MODEL_SCORE: document.meta.get(MODEL_SCORE), "relevant": document.id in relevant}
                    out.write(json.dumps(row) + "\n")
                    rows.append(row)
                out.flush()
                print(f"{method}: {number}/{len(todo)} queries, {time.perf_counter() - began:.1f} s", flush=True)
    rows = [row for row in rows if row["query_id"] in set(wanted)]
    record = {"dataset": dataset.name, "split": "train", "candidates": f"bm25 top-{depth}, inline (no first-stage "
              "scores)", "excluded": "queries a shipped model trained on", **checks,
              "fit_queries": len(chosen[False]), "held_out_queries": len(chosen[True]),
              "fit_query_ids_sha256": ids_digest(chosen[False]),
              "held_out_query_ids_sha256": ids_digest(chosen[True]), "model": component_model(component)}
    return rows, record


def features(rows: list[dict[str, Any]], names: tuple[str, ...]) -> np.ndarray:
    return np.array([[math.log(r["rank"]) if name == "log_rank" else float(r[name]) for name in names]
                     for r in rows])


def fit(method: str, model: str | None, rows: list[dict[str, Any]], score_means: bool) -> Calibration:
    """Logistic regression on the fitting rows; features with a coefficient of the wrong sign are dropped."""
    names = FEATURES if score_means else ("log_rank",)
    labels = np.array([r["relevant"] for r in rows])
    while True:
        regression = LogisticRegression(C=100.0, max_iter=1000).fit(features(rows, names), labels)
        coefficients = regression.coef_[0]
        wrong = [n for n, c in zip(names, coefficients) if (c > 0 if n == "log_rank" else c < 0)]
        if not wrong or len(names) == 1:
            return Calibration(method, model, names, tuple(float(c) for c in coefficients),
                               float(regression.intercept_[0]))
        names = tuple(n for n in names if n not in wrong)


def quality(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """ECE (10 equal-width bins, weighted by count), Brier score, and the shares above 0.5."""
    bins = np.minimum((probabilities * 10).astype(int), 9)
    ece = sum(abs(probabilities[bins == b].mean() - labels[bins == b].mean()) * (bins == b).sum()
              for b in range(10) if (bins == b).any()) / len(labels)
    return {"ece": round(float(ece), 4), "brier": round(float(np.mean((probabilities - labels) ** 2)), 4),
            "relevant_above_0.5": round(float((probabilities[labels] > 0.5).mean()), 4),
            "non_relevant_above_0.5": round(float((probabilities[~labels] > 0.5).mean()), 4)}


def bootstrap_ece(rows: list[dict[str, Any]], calibrated: np.ndarray, fallback: np.ndarray,
                  resamples: int = 1000, seed: int = 13) -> dict[str, Any]:
    """95% intervals of both ECEs and a paired bootstrap p (share of resamples where calibration is not better),
    resampling held-out queries."""
    by_query: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        by_query.setdefault(row["query_id"], []).append(position)
    groups = list(by_query.values())
    labels = np.array([r["relevant"] for r in rows])
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(resamples):
        chosen = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        pairs.append((quality(calibrated[chosen], labels[chosen])["ece"],
                      quality(fallback[chosen], labels[chosen])["ece"]))
    ours, theirs = np.array(pairs).T
    return {"queries": len(groups), "calibrated_ece_ci95": [round(float(np.percentile(ours, q)), 4) for q in (2.5, 97.5)],
            "fallback_ece_ci95": [round(float(np.percentile(theirs, q)), 4) for q in (2.5, 97.5)],
            "p_not_better": round(float(np.mean(ours >= theirs)), 4)}


def along_ranking(rows: list[dict[str, Any]], calibration: Calibration | None) -> np.ndarray:
    """Each row's probability as served (rows grouped by query, in rank order)."""
    values: list[float] = []
    for _, group in groupby(rows, key=lambda row: row["query_id"]):
        values += served_probabilities(calibration, [row[MODEL_SCORE] for row in group])
    return np.array(values)


def calibrate(method: str, queries_per_half: int, depth: int, work: Path, score_means: bool) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    rows, record = pair_rows(method, DATASET, queries_per_half, depth, work)
    fitting = [r for r in rows if not r["held_out"]]
    testing = [r for r in rows if r["held_out"]]
    calibration = fit(method, record["model"], fitting, score_means)
    labels = np.array([r["relevant"] for r in testing])
    served, fallback = along_ranking(testing, calibration), along_ranking(testing, None)
    result = {**calibration.as_dict(), "fitted_on": {**record, "fit_pairs": len(fitting)},
              "held_out": {"pairs": len(testing), "relevant": int(labels.sum()),
                           "calibrated": quality(served, labels), "fallback_1_over_rank": quality(fallback, labels),
                           "bootstrap": bootstrap_ece(testing, served, fallback)},
              "fitted": time.strftime("%Y-%m-%d"), "fitted_by": "python -m evals.score_calibration " + method}
    CALIBRATIONS.mkdir(exist_ok=True)
    (CALIBRATIONS / f"{method}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=list(RERANK_METHODS))
    parser.add_argument("--queries", type=int, default=150, help="queries per half (fit, held out)")
    parser.add_argument("--depth", type=int, default=20, help="BM25 candidates per query")
    parser.add_argument("--work", type=Path, default=Path("/tmp/siftrag-calibration"))
    parser.add_argument("--rank-only", action="store_true", help="the method's scores mean nothing across "
                        "requests (rank positions, attention shares): fit on the rank alone")
    args = parser.parse_args()
    result = calibrate(args.method, args.queries, args.depth, args.work, not args.rank_only)
    print(json.dumps({k: result[k] for k in ("features", "coefficients", "intercept", "held_out")}, indent=1))


if __name__ == "__main__":
    main()
