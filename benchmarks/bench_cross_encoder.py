"""Cross-encoder reranking speed on SciFact test queries, beside the same model called directly in the same run.

    python benchmarks/bench_cross_encoder.py [--model NAME] [--depth 20] [--queries 100] [--max-length 256]

Per query: the BM25 top-``depth`` candidates are reranked by the ``cross-encoder`` component (the whole rerank step:
pair building, tokenization, forward passes, fusion, sorting) and, as the baseline, by sentence-transformers'
``CrossEncoder.predict`` on the same pairs with the same model object. Prints p50/p95 of both; the last line is
``p50_ms=X ratio_vs_direct=Y``.
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
    parser.add_argument("--model", default=None, help="cross-encoder name (default: the shipped one)")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--max-length", type=int, default=None)
    args = parser.parse_args()

    import torch
    from haystack import Document

    from evals.beir_loader import load_beir
    from indexes.bm25_index import bm25_rankings
    from indexes.document_store import indexable_text
    from rerankers.registry import make_reranker

    data = load_beir(args.dataset)
    corpus = {d.id: d for d in data.corpus()}
    queries = dict(list(data.queries.items())[: args.queries])
    rankings = bm25_rankings({i: indexable_text(d) for i, d in corpus.items()}, queries, args.depth)
    candidates = {q: [Document(id=d, content=corpus[d].content, meta=corpus[d].meta, score=float(args.depth - r))
                      for r, d in enumerate(rankings[q])] for q in queries}
    options = {"model": args.model, "max_length": args.max_length}
    reranker = make_reranker("cross-encoder", **{k: v for k, v in options.items() if v is not None})
    reranker.warm_up()
    model = reranker._encoder.model

    def direct(query_id: str) -> None:
        pairs = [(queries[query_id], indexable_text(d)) for d in candidates[query_id]]
        model.predict(pairs, batch_size=reranker.batch_size, activation_fn=torch.nn.Identity(),
                      show_progress_bar=False)

    def component(query_id: str) -> None:
        reranker.run(query=queries[query_id], documents=candidates[query_id], top_k=args.depth)

    order = list(queries)
    direct(order[0]), component(order[0])  # first calls pay one-off costs
    direct_times, component_times = [], []
    for query_id in order:  # interleaved, so load on the machine hits both alike
        direct_times += timed_each(direct, [query_id])
        component_times += timed_each(component, [query_id])
    d50, d95 = percentiles(direct_times)
    c50, c95 = percentiles(component_times)
    print(f"{reranker.model} (max_length {reranker.max_length}, threads {torch.get_num_threads()}), "
          f"{len(order)} queries x BM25 top-{args.depth}")
    print(f"direct CrossEncoder.predict: p50 {d50:7.1f} ms  p95 {d95:7.1f} ms")
    print(f"cross-encoder component:     p50 {c50:7.1f} ms  p95 {c95:7.1f} ms")
    print(f"p50_ms={c50:.1f} ratio_vs_direct={c50 / d50:.3f}")


if __name__ == "__main__":
    main()
