"""Per-request overhead of the compatible rerank routes beside our own ``/v1/rerank``, in one run.

    python benchmarks/bench_compat_overhead.py [--dataset data/sample/scifact] [--documents 20] [--rounds 60]

Starts the API (uvicorn, embedded default) and sends the same (query, documents) requests, with ``--method``
(default ``tilde``, the cheapest scorer, so the routes' own cost shows most) and the documents inline, to ``POST /v1/rerank``, Cohere's ``POST /v2/rerank`` and TEI's ``POST /rerank``,
interleaved round-robin (so drift hits every route alike) from one keep-alive client, after a warm-up that fills
the expansion cache. Prints p50/p95 per route, the ratio of p50s to ``/v1/rerank`` (the target is ≤ 1.1×), the
in-process reranker call as the floor, and checks that all three routes rank alike.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
from benchmarks.serving import running_server  # noqa: E402
from benchmarks.timing import percentiles  # noqa: E402

PORT = 8797


def requests_for(method: str, query: str, texts: list[str]) -> dict[str, dict]:
    """The same rerank in each route's shape (all documents back, scores only)."""
    return {
        "/v1/rerank": {"query": query, "method": method, "top_k": len(texts),
                       "documents": [{"id": str(i), "content": t} for i, t in enumerate(texts)]},
        "/v2/rerank": {"model": method, "query": query, "documents": texts},
        "/rerank": {"model": method, "query": query, "texts": texts},
    }


def order(route: str, body) -> list[int]:
    if route == "/v1/rerank":
        return [int(d["id"]) for d in body["documents"]]
    return [r["index"] for r in (body["results"] if route == "/v2/rerank" else body)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--documents", type=int, default=20, help="documents per request")
    parser.add_argument("--rounds", type=int, default=60, help="requests per route")
    parser.add_argument("--method", default="tilde", help="rerank method (all three routes)")
    parser.add_argument("--words", type=int, default=0, help="cut each document to its first N words (0: whole)")
    args = parser.parse_args()

    from haystack import Document

    from evals.beir_loader import load_beir
    from indexes.document_store import indexable_text
    from rerankers.registry import shared_reranker

    data = load_beir(args.dataset)
    corpus = [indexable_text(d) for d in data.corpus()]
    if args.words:
        corpus = [" ".join(text.split()[:args.words]) for text in corpus]
    queries = [data.queries[q] for q in sorted(data.queries)][:args.rounds]
    cases = [(q, corpus[(i * args.documents) % (len(corpus) - args.documents):][:args.documents])
             for i, q in enumerate(queries)]
    with running_server([sys.executable, str(REPO / "cli.py"), "serve", "--port", str(PORT)], PORT,
                        {"SIFTRAG_REDIS_URL": ""}) as base:
        samples: dict[str, list[float]] = {}
        agree = 0
        with httpx.Client(base_url=base, timeout=120) as client:
            for query, texts in cases:  # warm-up: loads the scorer, fills the expansion cache (chunks too)
                for route, payload in requests_for(args.method, query, texts).items():
                    client.post(route, json=payload).raise_for_status()
            for query, texts in cases:
                orders = []
                for route, payload in requests_for(args.method, query, texts).items():
                    began = time.perf_counter()
                    response = client.post(route, json=payload)
                    samples.setdefault(route, []).append(time.perf_counter() - began)
                    response.raise_for_status()
                    orders.append(order(route, response.json()))
                agree += orders[0] == orders[1] == orders[2]
    component = shared_reranker(args.method)
    inproc, tokenizing = [], []
    for query, texts in cases:
        documents = [Document(id=str(i), content=t) for i, t in enumerate(texts)]
        began = time.perf_counter()
        component.run(query=query, documents=documents, top_k=len(documents))
        inproc.append(time.perf_counter() - began)
        began = time.perf_counter()
        component.tokenizer([query, *texts], add_special_tokens=False, return_offsets_mapping=True)
        tokenizing.append(time.perf_counter() - began)
    baseline = statistics.median(samples["/v1/rerank"])
    size = f"cut to {args.words} words" if args.words else "whole SciFact abstracts"
    print(f"{args.method}, {args.documents} documents ({size}) inline per request, {len(cases)} requests per route, one client")
    print(f"{'route':<12} {'p50 ms':>8} {'p95 ms':>8} {'x /v1/rerank':>13}")
    for route, seconds in samples.items():
        p50, p95 = percentiles(seconds)
        print(f"{route:<12} {p50:8.2f} {p95:8.2f} {statistics.median(seconds) / baseline:12.2f}x")
    p50, p95 = percentiles(inproc)
    print(f"{'in-process':<12} {p50:8.2f} {p95:8.2f} {statistics.median(inproc) / baseline:12.2f}x   (the reranker's run)")
    p50, p95 = percentiles(tokenizing)
    print(f"{'tokenizing':<12} {p50:8.2f} {p95:8.2f} {statistics.median(tokenizing) / baseline:12.2f}x   (what the "
          "compatible routes add: chunk boundaries and usage need every document's tokens)")
    print(f"same order on all three routes: {agree}/{len(cases)} requests")


if __name__ == "__main__":
    main()
