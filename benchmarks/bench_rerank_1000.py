"""A 1,000-document rerank request with the default method (Cohere's documented maximum): latency and the server's
peak memory, beside the same encoder called directly on the same documents in the same run.

    python benchmarks/bench_rerank_1000.py [--documents 1000] [--rounds 3] [--method embedding]

Starts the API (uvicorn, embedded default) and posts one SciFact test query with the first ``--documents`` corpus
passages inline to ``POST /v2/rerank`` ``--rounds`` times (the first pays model loading). Reports per request the
tokens scored, chunks, latency, and the server's resident memory before and its peak (``VmHWM``) after. The
baseline: sentence-transformers' ``encode`` of the same passages with the same model in this process (cut at its
input length: one forward per passage, no chunks), the cheapest a client could do by hand. The last line is
``p50_ms=X ratio_vs_direct=Y peak_mb=Z``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
from benchmarks.serving import running_process
from benchmarks.timing import percentiles

PORT = 8798


def memory_mb(pid: int, field: str) -> float:
    """``VmRSS`` or ``VmHWM`` of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=REPO / "data" / "sample" / "scifact")
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--method", default="embedding")
    args = parser.parse_args()

    from core.settings import get_settings
    from evals.beir_loader import load_beir, read_corpus
    from indexes.document_store import indexable_text
    from indexes.encoder import get_encoder

    data = load_beir(args.dataset)
    query = next(iter(data.queries.values()))
    texts = [indexable_text(d) for _, d in zip(range(args.documents), read_corpus(args.dataset))]
    body = {"model": args.method, "query": query, "documents": texts, "top_n": 10}
    samples, peaks = [], []
    with tempfile.TemporaryDirectory() as data_dir, running_process(
            [sys.executable, "cli.py", "serve", "--port", str(PORT)], PORT,
            {"SIFTRAG_DATA_DIR": data_dir}) as (base, server), httpx.Client(timeout=1800) as client:
        for number in range(args.rounds):
            before = memory_mb(server.pid, "VmRSS")
            began = time.perf_counter()
            response = client.post(f"{base}/v2/rerank", json=body)
            seconds = time.perf_counter() - began
            response.raise_for_status()
            peak = memory_mb(server.pid, "VmHWM")
            siftrag = response.json()["meta"]["siftrag"]
            chunks = sum(r["chunks"] for r in response.json()["results"])
            print(f"request {number + 1}: {seconds:.2f} s, {siftrag['scored_tokens']} tokens scored, top-10 "
                  f"chunks {chunks}, rss before {before:.0f} MB, peak {peak:.0f} MB", flush=True)
            if number:
                samples.append(seconds)
            peaks.append(peak)
    encoder = get_encoder(get_settings().embedding_model)
    encoder.encode_queries([query])
    direct = []
    for _ in range(max(1, args.rounds - 1)):
        began = time.perf_counter()
        encoder.model.encode(texts, batch_size=get_settings().embedding_batch_size, show_progress_bar=False)
        direct.append(time.perf_counter() - began)
    p50, p95 = percentiles(samples or [seconds])
    direct_p50, _ = percentiles(direct)
    print(f"route p50 {p50:.0f} ms p95 {p95:.0f} ms; direct encode of the {len(texts)} passages p50 "
          f"{direct_p50:.0f} ms")
    print(f"p50_ms={p50:.0f} ratio_vs_direct={p50 / direct_p50:.2f} peak_mb={max(peaks):.0f}")


if __name__ == "__main__":
    main()
