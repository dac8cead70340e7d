"""The Milvus index backend on the real engine: Milvus Lite as a server process (what API processes and workers on
several hosts share) and as an embedded file. Versions switch by alias; a killed build leaves the alias alone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import ir_measures
import pytest
from haystack import Document

from core.settings import get_settings
from evals.beir_loader import load_beir
from indexes.collection import CollectionManager
from tests.conftest import REPO
from tests.service_processes import milvus_lite_server


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with milvus_lite_server(tmp_path_factory.mktemp("milvus")) as uri:
        yield uri


def use_backend(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv("SIFTRAG_INDEX_BACKEND", backend)
    get_settings.cache_clear()


@pytest.fixture()
def on_milvus(milvus_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's process uses the Milvus backend on the server."""
    monkeypatch.setenv("SIFTRAG_MILVUS_URI", milvus_server)
    use_backend(monkeypatch, "milvus")
    yield milvus_server
    monkeypatch.undo()
    get_settings.cache_clear()


def _ndcg10(collection, kind: str, folder: Path) -> float:
    data = load_beir(folder)
    results = collection.search(kind, list(data.queries.values()), top_k=10)
    run = [ir_measures.ScoredDoc(qid, d.id, d.score) for qid, docs in zip(data.queries, results) for d in docs]
    return ir_measures.calc_aggregate([ir_measures.nDCG @ 10], data.qrels, run)[ir_measures.nDCG @ 10]


def test_dense_on_milvus_flat_returns_faiss_flat_results(built_slice, scifact_slice: Path, on_milvus: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    queries = list(load_beir(scifact_slice).queries.values())
    use_backend(monkeypatch, "local")
    local = [[(d.id, d.score) for d in docs] for docs in built_slice.search("dense", queries, top_k=10)]
    use_backend(monkeypatch, "milvus")
    collection = CollectionManager(get_settings().data_dir).get(built_slice.name)
    collection.build("dense")
    assert collection.status()["indexes"]["dense"]["manifest"]["backend"] == "milvus"
    milvus = [[(d.id, d.score) for d in docs] for docs in collection.search("dense", queries, top_k=10)]
    for faiss_hits, milvus_hits in zip(local, milvus):
        assert [i for i, _ in milvus_hits] == [i for i, _ in faiss_hits]
        assert [s for _, s in milvus_hits] == pytest.approx([s for _, s in faiss_hits], abs=1e-4)


def test_bm25_on_milvus_ranks_like_bm25s(built_slice, scifact_slice: Path, on_milvus: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    collection = CollectionManager(get_settings().data_dir).get(built_slice.name)
    collection.build("bm25")
    milvus = _ndcg10(collection, "bm25", scifact_slice)
    use_backend(monkeypatch, "local")
    bm25s = _ndcg10(built_slice, "bm25", scifact_slice)
    assert milvus > 0.5 and abs(milvus - bm25s) < 0.08, (milvus, bm25s)


def test_reindex_switches_the_alias_and_keeps_the_previous_version(data_dir: Path, on_milvus: str) -> None:
    manager = CollectionManager(data_dir)
    collection = manager.create("milvus-reindex")
    collection.store.upsert([Document(id="a", content="red apples and green pears")])
    first = collection.build("bm25")
    collection.store.upsert([Document(id="b", content="ripe red cherries")])
    second = collection.build("bm25")
    versions = collection.versions("bm25")
    assert versions.current() == second and versions.list() == [first, second]
    assert [d.id for d in collection.search("bm25", ["cherries"])[0]] == ["b"]
    third = collection.build("bm25")
    assert versions.list() == [second, third]  # the oldest was dropped
    manager.delete("milvus-reindex")
    assert not [n for n in versions.client.list_collections() if n.startswith(versions.alias)]
    assert versions.alias not in versions.client.list_aliases()["aliases"]


def test_killed_build_leaves_the_alias_on_the_previous_version(data_dir: Path, on_milvus: str) -> None:
    manager = CollectionManager(data_dir)
    collection = manager.create("milvus-killme")
    passages = [Document(id=f"d{i}", content=f"passage number {i} about topic {i % 7}") for i in range(40_000)]
    collection.store.upsert(passages[:200])
    live = collection.build("bm25")
    collection.store.upsert(passages[200:])
    versions = collection.versions("bm25")
    script = ("from indexes.retriever import collection_manager\n"
              "collection_manager().get('milvus-killme').build('bm25')\n")
    env = {**os.environ, "SIFTRAG_DATA_DIR": str(data_dir)}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env)
    deadline = time.time() + 120
    while len([n for n in versions.client.list_collections() if n.startswith(versions.alias)]) < 2:
        assert process.poll() is None, "build finished before it could be killed"
        assert time.time() < deadline, "the build never created its collection"
        time.sleep(0.02)
    time.sleep(0.3)
    assert process.poll() is None, "build finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert versions.current() == live
    hits = collection.search("bm25", ["topic 3 passage 150"], top_k=3)[0]
    assert hits and all(int(d.id[1:]) < 200 for d in hits)
    versions.remove_stale_staging(older_than_s=0)
    assert [n for n in versions.client.list_collections() if n.startswith(versions.alias)] == [versions.target(live)]
    manager.delete("milvus-killme")


def test_embedded_milvus_lite_file_by_default(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFTRAG_INDEX_BACKEND", "milvus")
    monkeypatch.delenv("SIFTRAG_MILVUS_URI", raising=False)
    get_settings.cache_clear()
    try:
        manager = CollectionManager(data_dir)
        collection = manager.create("milvus-embedded")
        collection.store.upsert([Document(id="x", content="an embedded vector database file")])
        collection.build("bm25")
        assert [d.id for d in collection.search("bm25", ["database"])[0]] == ["x"]
        assert (data_dir / "milvus.db").exists()
        manager.delete("milvus-embedded")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_tilde_on_milvus_retrieves_and_reranks_like_the_local_index(tilde_scorer: Path, scifact_slice: Path,
                                                                     on_milvus: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.retriever import collection_manager
    from rerankers.registry import make_reranker

    queries = list(load_beir(scifact_slice).queries.values())[:20]
    candidates: dict[str, list[Document]] = {}

    def tilde_results() -> tuple[list, list]:
        collection = collection_manager().get("milvus-tilde")
        collection.build("tilde", {"expansion_top_k": 0})
        retrieved = [[(d.id, d.score) for d in docs] for docs in collection.search("tilde", queries, top_k=10)]
        reranked = []
        for query in queries[:5]:  # the same candidates on both backends (their bm25 analyzers differ)
            candidates.setdefault(query, collection.search("bm25", [query], 20)[0])
            run = make_reranker("tilde", collection="milvus-tilde").run(query=query, documents=candidates[query],
                                                                        top_k=20)
            assert run["meta"]["encoded_passages"] == 0  # every candidate's impacts came from the index
            reranked.append([(d.id, d.score) for d in run["documents"]])
        return retrieved, reranked

    use_backend(monkeypatch, "local")
    ensure_dataset_collection(collection_manager(), scifact_slice, ["bm25"], name="milvus-tilde")
    local = tilde_results()
    use_backend(monkeypatch, "milvus")
    ensure_dataset_collection(collection_manager(), scifact_slice, ["bm25"], name="milvus-tilde")
    milvus = tilde_results()
    for local_hits, milvus_hits in zip(local[0] + local[1], milvus[0] + milvus[1]):
        assert [s for _, s in milvus_hits] == pytest.approx([s for _, s in local_hits], rel=1e-3, abs=1e-3)
        for (local_id, local_score), (milvus_id, _) in zip(local_hits, milvus_hits):
            tied = [i for i, s in local_hits if abs(s - local_score) <= 1e-3]
            assert milvus_id == local_id or milvus_id in tied


def test_filters_are_evaluated_inside_milvus_so_selective_ones_still_fill_top_k(data_dir: Path, on_milvus: str) -> None:
    manager = CollectionManager(data_dir)
    collection = manager.create("milvus-filters")
    documents = [Document(id=f"en{i}", content="rivers " * 5 + f"english passage {i}", meta={"lang": "en", "year": i})
                 for i in range(400)]
    documents += [Document(id=f"de{i}", content=f"rivers german passage {i} " + "filler " * 60,
                           meta={"lang": "de", "year": 3000 + i}) for i in range(2)]
    collection.store.upsert(documents)
    collection.build("bm25")
    unfiltered = [d.id for d in collection.search("bm25", ["rivers"], top_k=1000)[0]]
    assert unfiltered.index("de0") > 2 * 10  # beyond what over-fetching top_k x 10 would reach
    german = {"field": "meta.lang", "operator": "==", "value": "de"}
    assert {d.id for d in collection.search("bm25", ["rivers"], top_k=2, filters=german)[0]} == {"de0", "de1"}
    recent_not_de = {"operator": "AND", "conditions": [{"field": "meta.year", "operator": ">=", "value": 398},
                                                       {"field": "meta.lang", "operator": "!=", "value": "de"}]}
    assert {d.id for d in collection.search("bm25", ["rivers"], top_k=5, filters=recent_not_de)[0]} == {"en398",
                                                                                                       "en399"}
    manager.delete("milvus-filters")
