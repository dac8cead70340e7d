"""The index backends side by side in one run: local files (bm25s, FAISS, the TILDEv2 matrix) against Milvus
(Milvus Lite embedded, or the server in SIFTRAG_MILVUS_URI), on SciFact and on a 10x synthetic corpus (SciFact
repeated with perturbed ids), so the table shows how each grows.

    python benchmarks/bench_backends.py [--dataset data/sample/scifact] [--queries 100] [--scales 1,10]
                                        [--kinds bm25,dense,tilde] [--data-dir DIR]

Per backend, scale and kind: index build throughput (documents/s; embeddings and impacts are computed once
before timing, so this is the index itself), then p50/p95 latency of one-query searches (top 10), and hybrid
(bm25 + dense, RRF). Ratios are Milvus / local, measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from benchmarks.timing import percentiles, timed_each  # noqa: E402

BACKENDS = ("local", "milvus")


def use_backend(backend: str) -> None:
    from core.settings import get_settings

    os.environ["SIFTRAG_INDEX_BACKEND"] = backend
    get_settings.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--kinds", default="bm25,dense,tilde")
    parser.add_argument("--data-dir", type=Path, help="reuse this data dir (its embedding and impact caches)")
    args = parser.parse_args()
    os.environ["SIFTRAG_DATA_DIR"] = str(args.data_dir or tempfile.mkdtemp(prefix="bench-backends-"))
    use_backend("local")

    from haystack import Document

    from evals.beir_loader import load_beir
    from indexes.retriever import collection_manager
    from rag.hybrid import HybridRetriever

    data = load_beir(args.dataset)
    corpus = list(data.corpus())
    queries = list(data.queries.values())[: args.queries]
    kinds = args.kinds.split(",")
    rows = []
    for scale in (int(s) for s in args.scales.split(",")):
        name = f"bench-backends-{scale}x"
        manager = collection_manager()
        if name in manager.names():
            use_backend("milvus")
            manager.delete(name)
            use_backend("local")
        collection = manager.create(name)
        documents = [Document(id=d.id if copy == 0 else f"{d.id}~{copy}", content=d.content, meta=d.meta)
                     for copy in range(scale) for d in corpus]
        for start in range(0, len(documents), 5000):
            collection.store.upsert(documents[start:start + 5000])
        for kind in kinds:  # fill the embedding and impact caches, so builds below time the index only
            collection.build(kind)
        for backend in BACKENDS:
            use_backend(backend)
            for kind in kinds:
                began = time.perf_counter()
                collection.build(kind)
                build_s = time.perf_counter() - began
                collection.search(kind, queries[:2], top_k=10)  # load
                p50, p95 = percentiles(timed_each(lambda q, k=kind: collection.search(k, [q], top_k=10), queries))
                rows.append((scale, len(documents), backend, kind, len(documents) / build_s, p50, p95))
            if {"bm25", "dense"} <= set(kinds):
                hybrid = HybridRetriever(name, top_k=10)
                hybrid.run_batch(queries[:2])
                p50, p95 = percentiles(timed_each(lambda q: hybrid.run_batch([q]), queries))
                rows.append((scale, len(documents), backend, "hybrid", float("nan"), p50, p95))
        manager.delete(name)  # on the Milvus backend: drops its Milvus collections and the local folder
        use_backend("local")

    print(f"\n{len(queries)} queries, one per search, top 10; Milvus at "
          f"{os.environ.get('SIFTRAG_MILVUS_URI') or 'Milvus Lite (embedded file)'}\n")
    print("| corpus | docs | kind | backend | build docs/s | p50 ms | p95 ms | p50 × local |")
    print("|---|---|---|---|---|---|---|---|")
    local = {(r[0], r[3]): r for r in rows if r[2] == "local"}
    for scale, docs, backend, kind, throughput, p50, p95 in sorted(rows, key=lambda r: (r[0], r[3], r[2])):
        ratio = p50 / local[(scale, kind)][5]
        print(f"| {scale}x | {docs:,} | {kind} | {backend} | {throughput:,.0f} | {p50:.1f} | {p95:.1f} | "
              f"{ratio:.2f} |")


if __name__ == "__main__":
    main()
