"""BM25 and dense search over a real SciFact slice: quality, deletes, filters, reload of new versions."""
from __future__ import annotations

from pathlib import Path

import pytest
from haystack import Document

from core.errors import InvalidInputError, NotFoundError
from evals.beir_loader import load_beir
from evals.metrics import evaluate
from indexes.retriever import collection_manager


def _ndcg(collection, kind: str, dataset: Path) -> float:
    data = load_beir(dataset)
    qids = sorted(data.queries)
    ranked = collection.search(kind, [data.queries[q] for q in qids], top_k=100)
    run = {q: {d.id: d.score for d in docs} for q, docs in zip(qids, ranked)}
    return evaluate(run, data.qrels)["nDCG@10"]


@pytest.mark.parametrize("kind, floor", [("bm25", 0.70), ("dense", 0.65)])
def test_quality_on_slice(built_slice, scifact_slice: Path, kind: str, floor: float) -> None:
    assert _ndcg(built_slice, kind, scifact_slice) >= floor


def test_results_are_documents_with_scores(built_slice) -> None:
    for kind in ("bm25", "dense"):
        documents = built_slice.search(kind, ["vitamin D deficiency and bone fractures"], top_k=5)[0]
        assert len(documents) == 5
        assert all(isinstance(d, Document) and d.content and d.score is not None for d in documents)
        assert [d.score for d in documents] == sorted((d.score for d in documents), reverse=True)


def test_bad_queries(built_slice) -> None:
    with pytest.raises(InvalidInputError):
        built_slice.search("bm25", ["   "])
    with pytest.raises(NotFoundError, match="Unknown index kind"):
        built_slice.search("splade", ["x"])
    assert built_slice.search("bm25", ["qwxzv zzyqk"], top_k=5) == [[]]


def test_deleted_documents_disappear_and_new_version_is_picked_up(scifact_slice: Path) -> None:
    manager = collection_manager()
    collection = manager.create("mutable")
    collection.store.upsert([
        Document(id="1", content="Aspirin lowers the risk of heart attack."),
        Document(id="2", content="Coffee consumption and sleep quality."),
        Document(id="3", content="Aspirin and stomach bleeding risk."),
    ])
    collection.build("bm25")
    assert {d.id for d in collection.search("bm25", ["aspirin"])[0]} == {"1", "3"}
    collection.store.delete(["3"])
    assert {d.id for d in collection.search("bm25", ["aspirin"])[0]} == {"1"}
    assert collection.status()["indexes"]["bm25"]["stale"]
    collection.store.upsert([Document(id="4", content="Low-dose aspirin in the elderly.")])
    reader = manager.get("mutable")
    collection.build("bm25")
    assert {d.id for d in reader.search("bm25", ["aspirin"])[0]} == {"1", "4"}


def test_a_deleted_top_hit_is_replaced_by_the_next_one(scifact_slice: Path) -> None:
    """A search reads the stored rows of its top_k hits only; when one was deleted since the build, the next
    hits fill its place (top_k stays full)."""
    collection = collection_manager().create("holes")
    collection.store.upsert([Document(id=str(n), content=f"aspirin {'aspirin ' * (5 - n)}trial number {n}")
                             for n in range(5)])
    collection.build("bm25")
    ranked = [d.id for d in collection.search("bm25", ["aspirin"], top_k=2)[0]]
    collection.store.delete(ranked[:1])
    after = [d.id for d in collection.search("bm25", ["aspirin"], top_k=2)[0]]
    assert len(after) == 2 and ranked[0] not in after and after[0] == ranked[1]


def test_metadata_filters(built_slice) -> None:
    title = built_slice.search("bm25", ["cancer"], top_k=1)[0][0].meta["title"]
    flt = {"field": "meta.title", "operator": "==", "value": title}
    hits = built_slice.search("bm25", ["cancer"], top_k=5, filters=flt)[0]
    assert hits and all(d.meta["title"] == title for d in hits)


def test_hnsw_agrees_with_exact(built_slice, scifact_slice: Path) -> None:
    data = load_beir(scifact_slice)
    queries = [data.queries[q] for q in sorted(data.queries)]
    exact = [[d.id for d in docs] for docs in built_slice.search("dense", queries, top_k=10)]
    version = built_slice.build("dense", {"index_type": "hnsw"})
    assert built_slice.versions("dense").manifest(version)["index_type"] == "hnsw"
    approx = [[d.id for d in docs] for docs in built_slice.search("dense", queries, top_k=10)]
    overlap = sum(len(set(a) & set(e)) for a, e in zip(approx, exact)) / (10 * len(queries))
    assert overlap >= 0.95
    built_slice.build("dense")
