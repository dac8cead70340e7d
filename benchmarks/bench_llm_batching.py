"""LLM reranking under concurrency: cross-request batching of next-token scoring on vs off, in one run.

    python benchmarks/bench_llm_batching.py [--dataset data/sample/scifact] [--clients 4] [--queries 8]
                                            [--candidates 20] [--methods first,pointwise] [--batch-tokens 8192]

``--clients`` threads (as the API's worker threads would) each rerank their share of ``--queries`` SciFact queries
over BM25's top ``--candidates``, with the shared backend's batcher off (each request runs its own forward
passes; requests take turns on the model) and on (concurrent requests' prompts share padded passes of at most
``--batch-tokens`` tokens). Prints requests/s, p50 latency, the speed-up, and whether every ranking is the same.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
from benchmarks.timing import percentiles  # noqa: E402


def run_clients(reranker, jobs: list, clients: int) -> tuple[float, list[float], list[list[str]]]:
    """(seconds for all jobs, per-request latencies, rankings in job order) with ``clients`` threads."""
    rankings: list[list[str]] = [[] for _ in jobs]
    latencies: list[float] = []
    cursor = iter(range(len(jobs)))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            query, documents = jobs[index]
            began = time.perf_counter()
            ranked = reranker.run(query=query, documents=documents, top_k=len(documents))["documents"]
            latencies.append(time.perf_counter() - began)
            rankings[index] = [d.id for d in ranked]

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies, rankings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--methods", default="first,pointwise")
    parser.add_argument("--batch-tokens", type=int, default=8192)
    parser.add_argument("--wait-ms", type=float, default=2.0)
    args = parser.parse_args()

    from core.next_token_batcher import NextTokenBatcher
    from core.settings import get_settings
    from evals.beir_loader import load_beir
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.retriever import collection_manager
    from rerankers.registry import make_reranker

    data = load_beir(args.dataset)
    collection = ensure_dataset_collection(collection_manager(), args.dataset, ["bm25"])
    queries = [data.queries[q] for q in sorted(data.queries)][:args.queries]
    jobs = list(zip(queries, collection.search("bm25", queries, args.candidates)))
    model = get_settings().llm_model
    print(f"{args.clients} concurrent clients, {len(jobs)} requests of {args.candidates} BM25 candidates, {model} "
          f"(CPU threads: {os.cpu_count()}); batching on = padded passes of ≤ {args.batch_tokens} tokens, "
          f"{args.wait_ms} ms wait")
    print(f"{'method':<10} {'batching':<9} {'req/s':>7} {'p50 s':>7} {'speed-up':>9} {'same rankings':>14}")
    for method in args.methods.split(","):
        reranker = make_reranker(method, model=model)
        llm = reranker.llm
        reranker.run(query=jobs[0][0], documents=jobs[0][1][:2])  # load the model
        llm.batcher = None
        seconds_off, latencies_off, rankings_off = run_clients(reranker, jobs, args.clients)
        llm.batcher = NextTokenBatcher(llm.forward_next_token, llm.encode_prompts, model, args.wait_ms,
                                       args.batch_tokens)
        seconds_on, latencies_on, rankings_on = run_clients(reranker, jobs, args.clients)
        same = sum(a == b for a, b in zip(rankings_off, rankings_on))
        for label, seconds, latencies in (("off", seconds_off, latencies_off), ("on", seconds_on, latencies_on)):
            print(f"{method:<10} {label:<9} {len(jobs) / seconds:7.2f} {percentiles(latencies)[0] / 1000:7.2f} "
                  f"{seconds_off / seconds:8.2f}x {f'{same}/{len(jobs)}':>14}")


if __name__ == "__main__":
    main()
