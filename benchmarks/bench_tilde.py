"""TILDEv2 speed on SciFact, beside BM25 measured in the same run.

    python benchmarks/bench_tilde.py [--dataset data/sample/scifact] [--depth 1000] [--build-docs 256]

1. Reranking ``depth`` BM25 candidates per query from the stored impacts (query tokenization + sparse
   row product): p50/p95 per query, beside the BM25 search that produced them and the paper's 20.5 ms.
2. TILDEv2 as a first stage (posting lists), beside BM25 search.
3. Index size per passage beside the dense (FAISS flat) index.
4. Build throughput (passages/s, cold caches): expansion + encoding, encoding alone, and an incremental
   rebuild after adding one passage (only the new passage is encoded).
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

PAPER_RERANK_MS = 20.5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--build-docs", type=int, default=256)
    args = parser.parse_args()

    from core.settings import get_settings
    from evals.beir_loader import load_beir
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.document_store import indexable_text
    from indexes.encoder import get_encoder
    from indexes.retriever import collection_manager

    data = load_beir(args.dataset)
    collection = ensure_dataset_collection(collection_manager(), args.dataset, ["bm25", "tilde"])
    queries = list(data.queries.values())
    _, bm25 = collection.loaded("bm25")
    _, tilde = collection.loaded("tilde")
    bm25_hits = bm25.search(queries, args.depth)
    candidates = {q: [doc_id for doc_id, _ in hits] for q, hits in zip(queries, bm25_hits, strict=True)}
    bm25_times = timed_each(lambda q: bm25.search([q], args.depth), queries)
    rerank_times = timed_each(lambda q: tilde.score(q, candidates[q]), queries)
    first_stage_times = timed_each(lambda q: tilde.search([q], args.depth), queries)
    b50, b95 = percentiles(bm25_times)
    print(f"SciFact, {len(queries)} queries, {collection.store.count()} passages")
    for label, samples, paper in (("rerank", rerank_times, f"   paper (CPU): {PAPER_RERANK_MS} ms"),
                                  ("first stage", first_stage_times, "")):
        p50, p95 = percentiles(samples)
        print(f"{label:<12} top-{args.depth}: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms   "
              f"BM25 search p50 {b50:6.2f} ms p95 {b95:6.2f} ms (x{p50 / b50:4.2f} of BM25){paper}")

    tilde_manifest = collection.versions("tilde").manifest(collection.versions("tilde").current())
    dim = get_encoder(get_settings().embedding_model).dim
    print(f"index size: tilde {tilde_manifest['bytes_per_passage']:.0f} bytes/passage "
          f"({tilde_manifest['postings'] / tilde_manifest['documents']:.0f} (id, fp16) pairs) vs dense flat "
          f"{4 * dim} bytes/passage (x{4 * dim / tilde_manifest['bytes_per_passage']:.1f} smaller)")

    texts = [indexable_text(d) for d, _ in zip(data.corpus(), range(args.build_docs), strict=False)]
    with tempfile.TemporaryDirectory() as cold:
        os.environ["SIFTRAG_DATA_DIR"] = cold
        get_settings.cache_clear()
        from indexes.tilde_index import encode_impacts, load_expander, load_scorer

        scorer_path = Path(tilde_manifest["model"])
        load_scorer(str(scorer_path))  # models loaded before timing
        load_expander(200)
        began = time.perf_counter()
        encode_impacts(texts, scorer_path, 0)
        plain = time.perf_counter() - began
        began = time.perf_counter()
        encode_impacts(texts, scorer_path, 200)
        expanded = time.perf_counter() - began
        began = time.perf_counter()
        encode_impacts([*texts, "A passage added after the build about zyxoplasmin."], scorer_path, 200)
        incremental = time.perf_counter() - began
    print(f"build, {len(texts)} passages, cold: encode only {len(texts) / plain:6.1f} passages/s; "
          f"expansion + encode {len(texts) / expanded:6.1f} passages/s; add 1 passage to {len(texts)}: "
          f"{1000 * incremental:.0f} ms (x{expanded / incremental:.0f} faster than re-encoding all)")


if __name__ == "__main__":
    main()
