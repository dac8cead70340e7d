"""Reciprocal-rank fusion and the Haystack components (pipelines, YAML round trip)."""
from __future__ import annotations

import pytest
from haystack import Document, Pipeline

from evals.beir_loader import load_beir
from evals.metrics import evaluate
from indexes.retriever import SiftragRetriever
from rag.hybrid import HybridRetriever, reciprocal_rank_fusion


def test_rrf_formula() -> None:
    a = [Document(id="x", content="x"), Document(id="y", content="y")]
    b = [Document(id="y", content="y"), Document(id="z", content="z")]
    fused = reciprocal_rank_fusion([a, b], k=60)
    assert [d.id for d in fused] == ["y", "x", "z"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)


def test_hybrid_at_least_as_good_as_each(built_slice, scifact_slice) -> None:
    data = load_beir(scifact_slice)
    qids = sorted(data.queries)
    queries = [data.queries[q] for q in qids]
    scores = {}
    for name, retriever in {
        "bm25": SiftragRetriever("slice", "bm25"), "dense": SiftragRetriever("slice", "dense"),
        "hybrid": HybridRetriever("slice"),
    }.items():
        ranked = retriever.run_batch(queries, 100)
        scores[name] = evaluate({q: {d.id: d.score for d in docs} for q, docs in zip(qids, ranked)}, data.qrels)["nDCG@10"]
    assert scores["hybrid"] >= max(scores["bm25"], scores["dense"]) - 0.01, scores


def test_components_run_in_a_serialized_pipeline(built_slice) -> None:
    pipeline = Pipeline()
    pipeline.add_component("retriever", HybridRetriever("slice", top_k=3))
    yaml_text = pipeline.dumps()
    assert "rag.hybrid.HybridRetriever" in yaml_text
    restored = Pipeline.loads(yaml_text, allowed_modules=["rag", "indexes"])
    documents = restored.run({"retriever": {"query": "vitamin D and fractures"}})["retriever"]["documents"]
    assert len(documents) == 3

