"""BEIR's identical-id convention on a made-up dataset where a query is also a corpus document."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evals.engine import EvaluationSpec
from evals.metrics import drop_identical_ids, evaluate
from evals.runner import run_evaluation

QUERY = "solar panels convert sunlight into electricity efficiently"


@pytest.fixture()
def self_retrieving(tmp_path: Path) -> Path:
    """q1's text is also document q1 (BM25 ranks it first); its one relevant document d1 comes second."""
    root = tmp_path / "selfref"
    (root / "qrels").mkdir(parents=True)
    corpus = {"q1": QUERY, "d1": "solar panels convert sunlight into electricity",
              "d2": "wind turbines generate power from moving air", "d3": "plants turn sunlight into sugar",
              "d4": "a recipe for fresh pasta with tomatoes"}
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in corpus.items()))
    queries = {"q1": QUERY, "q2": "wind turbines power"}
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return root


def test_ndcg_with_and_without_the_convention_matches_a_hand_computation(self_retrieving: Path,
                                                                         tmp_path: Path) -> None:
    spec = EvaluationSpec(dataset=str(self_retrieving), pipelines=["bm25"])
    ignored = run_evaluation(spec, out_dir=tmp_path / "ignored")
    kept = run_evaluation(spec.model_copy(update={"keep_identical_ids": True}), out_dir=tmp_path / "kept")
    # ignored: d1 at rank 1 for q1, d2 at rank 1 for q2 → 1.0; kept: q1's d1 at rank 2 → 1/log2(3)
    assert ignored["systems"][0]["metrics"]["nDCG@10"] == pytest.approx(1.0)
    assert kept["systems"][0]["metrics"]["nDCG@10"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert "ignored" in ignored["identical_ids"] and kept["identical_ids"] == "kept"
    ranked = {name: [line.split()[2] for line in (tmp_path / name / "run.bm25.trec").read_text().splitlines()
                     if line.startswith("q1 ")] for name in ("ignored", "kept")}
    assert ranked["kept"][0] == "q1" and ranked["ignored"] == ranked["kept"][1:]


def test_drop_identical_ids_when_scoring_a_run() -> None:
    run = {"q1": {"q1": 9.0, "d1": 5.0}, "q2": {"d2": 3.0}}
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    cleaned, dropped = drop_identical_ids(run)
    assert dropped == 1 and cleaned == {"q1": {"d1": 5.0}, "q2": {"d2": 3.0}}
    assert evaluate(cleaned, qrels)["nDCG@10"] == pytest.approx(1.0)
    assert evaluate(run, qrels)["nDCG@10"] == pytest.approx((1 / math.log2(3) + 1) / 2)
