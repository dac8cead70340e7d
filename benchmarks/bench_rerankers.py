"""LLM reranker speed, each beside its baseline in the same run, on SciFact BM25 candidates.

    python benchmarks/bench_rerankers.py [--model smollm2-135m-instruct] [--queries 4] [--passage-words 100]

1. FIRST vs generation listwise on the same 20-passage windows: seconds per window, ratio.
2. ICR vs generation listwise over the same 20 candidates: seconds per query, ratio.
3. ICR peak memory for 10/20/40 candidates (fresh subprocess each): growth vs prompt length, beside
   the L×L attention a full eager forward would hold per layer.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")


def candidates(dataset: Path, queries: int, depth: int):
    from evals.beir_loader import load_beir
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.retriever import collection_manager

    data = load_beir(dataset)
    collection = ensure_dataset_collection(collection_manager(), dataset, ["bm25"])
    texts = [data.queries[q] for q in sorted(data.queries)[:queries]]
    return texts, collection.search("bm25", texts, depth)


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_probe(model: str, n: int, passage_words: int, dataset: Path) -> None:
    """Child process: the peak RSS growth during one ICR call over n candidates (sampled every 2 ms,
    after returning freed heap to the OS, so the model-loading peak does not hide it)."""
    import ctypes

    from rerankers.icr import ICRReranker

    queries, docs = candidates(dataset, 1, n)
    icr = ICRReranker(model=model, passage_words=passage_words)
    icr.run(query="warm up", documents=docs[0][:2])
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    baseline, peak, done = rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    meta = icr.run(query=queries[0], documents=docs[0])["meta"]
    done.set()
    sampler.join()
    config = icr.llm.config
    print(json.dumps({"n": n, "tokens": meta["prompt_tokens"], "peak_growth_mb": peak[0] - baseline,
                      "heads": config.num_attention_heads}))


def speed(args: argparse.Namespace) -> None:
    """Parts 1 and 2."""
    from rerankers.registry import make_reranker

    queries, docs = candidates(args.dataset, args.queries, 20)
    options = {"model": args.model, "passage_words": args.passage_words}
    first, listwise, icr = (make_reranker(m, **options) for m in ("first", "listwise", "icr"))
    first.run(query="warm up", documents=docs[0][:2])
    print(f"{args.model}, {args.queries} SciFact queries, BM25 top-20, {args.passage_words} words per passage")

    timings = {}
    for name, reranker in (("first", first), ("listwise", listwise), ("icr", icr)):
        began = time.perf_counter()
        metas = [reranker.run(query=q, documents=d)["meta"] for q, d in zip(queries, docs)]
        timings[name] = (time.perf_counter() - began) / len(queries)
        tokens = sum(m["generated_tokens"] for m in metas) / len(metas)
        print(f"  {name:<9} {timings[name]:6.2f} s/query  forward passes {metas[0]['forward_passes']:>3}  "
              f"prompt tokens {metas[0]['prompt_tokens']:>5}  generated {tokens:5.1f}")
    began = time.perf_counter()
    first.run_batch(queries, docs)
    batched = (time.perf_counter() - began) / len(queries)
    print(f"\n1. per 20-passage window: FIRST {timings['first']:.2f} s, generation listwise "
          f"{timings['listwise']:.2f} s → FIRST x{timings['listwise'] / timings['first']:.2f} faster "
          f"(FIRST with windows of {len(queries)} queries batched: {batched:.2f} s/window, "
          f"x{timings['listwise'] / batched:.2f})")
    print(f"2. ICR {timings['icr']:.2f} s/query vs generation listwise {timings['listwise']:.2f} s/query over the "
          f"same 20 candidates → ICR x{timings['listwise'] / timings['icr']:.2f} faster")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--passage-words", type=int, default=100)
    parser.add_argument("--memory-probe", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--memory-only", action="store_true", help="only part 3")
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(args.model, args.memory_probe, args.passage_words, args.dataset)
        return

    if not args.memory_only:
        speed(args)
    print("3. ICR peak memory growth (fresh process per size):")
    for n in (10, 20, 40):
        output = subprocess.run(
            [sys.executable, __file__, "--model", args.model, "--passage-words", str(args.passage_words),
             "--dataset", str(args.dataset), "--memory-probe", str(n)],
            capture_output=True, text=True, cwd=REPO, env=os.environ).stdout
        probe = json.loads(output.strip().splitlines()[-1])
        full_mb = probe["heads"] * probe["tokens"] ** 2 * 4 / 2**20
        print(f"   {n:>3} candidates, {probe['tokens']:>5} prompt tokens: peak growth {probe['peak_growth_mb']:7.1f} MB "
              f"({probe['peak_growth_mb'] / probe['tokens'] * 1000:.1f} MB per 1k tokens); a full eager forward "
              f"would hold {full_mb:7.1f} MB of attention per layer")


if __name__ == "__main__":
    main()
