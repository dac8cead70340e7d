"""BM25 and dense retrieval speed on SciFact, each beside a raw-library baseline in the same run.

    python benchmarks/bench_retrieval.py [--dataset data/sample/scifact] [--build-docs 1000]

Query latency: siftrag ``Collection.search`` (tokenize/encode + index + fetch Documents from the
store) vs raw bm25s ``retrieve`` / raw sentence-transformers + FAISS. Build throughput: siftrag
builds (cold embedding cache) vs raw bm25s ``index`` / plain ``SentenceTransformer.encode``.
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


def row(label: str, ours: list[float], base: list[float], batch_seconds_ours: float, batch_seconds_base: float,
        n: int) -> None:
    o50, o95 = percentiles(ours)
    b50, b95 = percentiles(base)
    print(f"{label:<6} p50 {o50:7.2f} ms (raw {b50:7.2f}, x{o50 / b50:4.2f})  p95 {o95:7.2f} ms "
          f"(raw {b95:7.2f}, x{o95 / b95:4.2f})  batched {n / batch_seconds_ours:8.1f} q/s "
          f"(raw {n / batch_seconds_base:8.1f}, x{batch_seconds_base / batch_seconds_ours:4.2f} of raw speed)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--build-docs", type=int, default=1000)
    args = parser.parse_args()

    import numpy as np

    from evals.beir_loader import load_beir
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.document_store import indexable_text
    from indexes.encoder import get_encoder
    from indexes.retriever import collection_manager

    data = load_beir(args.dataset)
    queries = [data.queries[q] for q in sorted(data.queries)]
    print(f"dataset {args.dataset} — {len(queries)} queries")
    collection = ensure_dataset_collection(collection_manager(), args.dataset, ["bm25", "dense"])
    _, bm25 = collection.loaded("bm25")
    _, dense = collection.loaded("dense")
    encoder = get_encoder(dense.model_name)
    for q in queries[:20]:  # warm-up
        collection.search("bm25", [q], 10)
        collection.search("dense", [q], 10)

    def raw_bm25(batch: list[str]):
        tokens = bm25.tokenizer.tokenize(batch, update_vocab=False, return_as="ids", show_progress=False)
        return bm25.retriever.retrieve(tokens, k=10, show_progress=False, n_threads=0)

    def raw_dense(batch: list[str]):
        vectors = encoder.model.encode(batch, normalize_embeddings=True, convert_to_numpy=True,
                                       show_progress_bar=False)
        return dense.index.search(np.asarray(vectors, dtype=np.float32), 10)

    print("\nquery latency, top-10, one query at a time; batched = all queries in one call")
    for label, kind, raw in (("bm25", "bm25", raw_bm25), ("dense", "dense", raw_dense)):
        base = timed_each(lambda q: raw([q]), queries)
        ours = timed_each(lambda q: collection.search(kind, [q], 10), queries)
        began = time.perf_counter()
        raw(queries)
        batch_base = time.perf_counter() - began
        began = time.perf_counter()
        collection.search(kind, queries, 10)
        batch_ours = time.perf_counter() - began
        row(label, ours, base, batch_ours, batch_base, len(queries))

    print(f"\nbuild throughput on the first {args.build_docs} documents (cold embedding cache)")
    documents = list(collection.store.iter_documents())[: args.build_docs]
    texts = [indexable_text(d) for d in documents]
    import bm25s

    from indexes.bm25_index import make_tokenizer

    began = time.perf_counter()
    tokenizer = make_tokenizer()
    raw_index = bm25s.BM25(k1=0.9, b=0.4)
    raw_index.index(tokenizer.tokenize(texts, return_as="ids", show_progress=False), show_progress=False)
    bm25_raw_s = time.perf_counter() - began

    began = time.perf_counter()
    encoder.model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    dense_raw_s = time.perf_counter() - began

    with tempfile.TemporaryDirectory() as scratch:
        os.environ["SIFTRAG_DATA_DIR"] = scratch
        from core.settings import get_settings

        get_settings.cache_clear()
        from indexes.collection import CollectionManager

        fresh = CollectionManager(Path(scratch)).create("bench")
        fresh.store.upsert(documents)
        began = time.perf_counter()
        fresh.build("bm25")
        bm25_ours_s = time.perf_counter() - began
        began = time.perf_counter()
        fresh.build("dense")
        dense_ours_s = time.perf_counter() - began
        began = time.perf_counter()
        fresh.build("dense")
        dense_warm_s = time.perf_counter() - began

    n = len(documents)
    print(f"bm25   {n / bm25_ours_s:8.1f} docs/s (raw bm25s {n / bm25_raw_s:8.1f}; ours/raw {bm25_raw_s / bm25_ours_s:4.2f})")
    print(f"dense  {n / dense_ours_s:8.1f} docs/s (raw sentence-transformers encode {n / dense_raw_s:8.1f}; "
          f"ours/raw {dense_raw_s / dense_ours_s:4.2f})")
    print(f"dense rebuild with warm embedding cache {n / dense_warm_s:8.1f} docs/s "
          f"(x{dense_ours_s / dense_warm_s:.0f} faster than cold)")


if __name__ == "__main__":
    main()
