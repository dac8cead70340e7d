"""Embedding reranking speed on SciFact test queries, beside encoding the same passages directly in the same run.

    python benchmarks/bench_embedding_rerank.py [--depth 100] [--queries 100]

Per query, the BM25 top-``depth`` of the SciFact collection (built with bm25 and dense indexes in the data dir on
first use) are reranked three ways: the baseline, sentence-transformers' ``encode`` of the query and every passage
with the same model object (what a reranker without the index's vectors must do); the ``embedding`` component on
the indexed candidates (passage vectors read from the dense index's cache, BM25 fusion); and the component on
the same texts as inline documents it has never seen (one extra space each: encoded now, fused with BM25 over the
candidates). Prints p50/p95 of each; the last line is ``p50_ms=X ratio_vs_direct=Y`` for the indexed path.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from benchmarks.timing import percentiles, timed_each  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()

    import torch
    from haystack import Document

    from core.settings import get_settings
    from evals.beir_loader import load_beir
    from evals.dataset_collection import collection_name_for, ensure_dataset_collection
    from indexes.document_store import indexable_text
    from indexes.encoder import get_encoder
    from indexes.retriever import SiftragRetriever, collection_manager
    from rerankers.registry import make_reranker

    data = load_beir(args.dataset)
    ensure_dataset_collection(collection_manager(), args.dataset, ["bm25", "dense"])
    retriever = SiftragRetriever(collection_name_for(args.dataset), "bm25", top_k=args.depth)
    queries = dict(list(data.queries.items())[: args.queries])
    indexed = {q: retriever.run(query=text)["documents"] for q, text in queries.items()}
    inline = {q: [Document(id=d.id, content=d.content + " ", meta=d.meta) for d in documents]
              for q, documents in indexed.items()}
    reranker = make_reranker("embedding")
    reranker.warm_up()
    model = get_encoder(reranker.model).model
    batch_size = get_settings().embedding_batch_size

    def direct(query_id: str) -> None:
        model.encode([queries[query_id]] + [indexable_text(d) for d in indexed[query_id]], batch_size=batch_size,
                     normalize_embeddings=True, show_progress_bar=False)

    def from_index(query_id: str) -> None:
        reranker.run(query=queries[query_id], documents=indexed[query_id], top_k=10)

    def unseen(query_id: str) -> None:
        reranker.run(query=queries[query_id], documents=inline[query_id], top_k=10)

    order = list(queries)
    for fn in (direct, from_index, unseen):
        fn(order[0])  # first calls pay one-off costs
    times: dict[str, list[float]] = {"direct": [], "indexed": [], "inline": []}
    for query_id in order:  # interleaved, so load on the machine hits all alike
        times["direct"] += timed_each(direct, [query_id])
        times["indexed"] += timed_each(from_index, [query_id])
        times["inline"] += timed_each(unseen, [query_id])
    print(f"{reranker.model} (threads {torch.get_num_threads()}), {len(order)} queries x BM25 top-{args.depth}")
    labels = {"direct": "direct encode (baseline)", "indexed": "embedding, indexed candidates",
              "inline": "embedding, inline documents"}
    for key, label in labels.items():
        p50, p95 = percentiles(times[key])
        print(f"{label:32s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms")
    direct_p50, indexed_p50 = percentiles(times["direct"])[0], percentiles(times["indexed"])[0]
    print(f"p50_ms={indexed_p50:.1f} ratio_vs_direct={indexed_p50 / direct_p50:.3f}")


if __name__ == "__main__":
    main()
