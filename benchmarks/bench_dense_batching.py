"""Dense /v1/search under concurrent load, with dynamic batching of the query encoder off and at several waits.

    python benchmarks/bench_dense_batching.py [--dataset data/sample/scifact] [--clients 50] [--seconds 30]
                                              [--waits 0,2,5,10] [--load wrk|httpx] [--requests 1500]

For each setting the API (uvicorn, embedded default) starts with ``SIFTRAG_BATCH_MAX_ITEMS=1`` (off: every request
encodes its query alone, the baseline) or ``SIFTRAG_BATCH_WAIT_MS=W``; a closed loop of ``--clients`` concurrent
connections sends dense searches; prints requests/s, p50/p95, the ratio to the baseline, and whether every setting
returned the same top-10 ids as the baseline for the same queries. The load comes from wrk when it is installed
(``--seconds`` per setting): a Python client on the same 2 cores takes ~3 ms of CPU per request, as much as the
server's own work, and caps what is measured; ``--load httpx`` (``--requests`` per setting) needs no wrk.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
PORT = 8798

from bench_api_load import closed_loop, pct, wrk_load  # noqa: E402


def serve(env: dict[str, str]) -> subprocess.Popen:
    """The API on ``PORT`` with ``env`` added, once it answers /healthz."""
    server = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "serve", "--port", str(PORT)], cwd=REPO,
                              env={**os.environ, "SIFTRAG_REDIS_URL": "", **env}, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/healthz").status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the API did not start")


def top_ids(url: str, payloads: list[dict]) -> list[list[str]]:
    with httpx.Client(timeout=30) as client:
        return [[doc["id"] for doc in client.post(url, json=p).json()["results"][0]["documents"]] for p in payloads]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30, help="wrk: seconds per setting")
    parser.add_argument("--requests", type=int, default=1500, help="httpx: requests per setting")
    parser.add_argument("--load", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx")
    parser.add_argument("--waits", default="0,2,5,10", help="batch waits (ms) to compare with batching off")
    args = parser.parse_args()

    from evals.beir_loader import load_beir
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.retriever import collection_manager

    data = load_beir(args.dataset)
    collection = ensure_dataset_collection(collection_manager(), args.dataset, ["dense"])
    payloads = [{"collection": collection.name, "query": data.queries[q], "retriever": "dense", "top_k": 10}
                for q in sorted(data.queries)]
    url = f"http://127.0.0.1:{PORT}/v1/search"
    settings = [("off", {"SIFTRAG_BATCH_MAX_ITEMS": "1"})] + [
        (f"{w} ms", {"SIFTRAG_BATCH_WAIT_MS": w}) for w in args.waits.split(",")]
    amount = f"{args.seconds} s" if args.load == "wrk" else f"{args.requests} requests"
    print(f"dense /v1/search, {args.clients} connections, {amount} per setting ({args.load}), "
          f"{len(payloads)} distinct queries ({collection.name})")
    print(f"{'batching':>9} {'req/s':>8} {'x off':>6} {'p50 ms':>8} {'p95 ms':>8}  same top-10 as off")
    baseline_rps, baseline_ids = None, None
    for label, env in settings:
        server = serve(env)
        try:
            ids = top_ids(url, payloads[:30])  # also loads the model before the load starts
            rps, p50, p95, errors = measure(url, payloads, args)
        finally:
            server.terminate()
            server.wait()
        baseline_rps, baseline_ids = baseline_rps or rps, baseline_ids or ids
        print(f"{label:>9} {rps:8.1f} {rps / baseline_rps:6.2f} {p50:8.1f} {p95:8.1f}"
              f"  {'yes' if ids == baseline_ids else 'NO'}{f'  errors {errors}' if errors else ''}")


def measure(url: str, payloads: list[dict], args: argparse.Namespace) -> tuple[float, float, float, int]:
    """A warm-up, then the closed loop: (requests/s, p50 ms, p95 ms, errors)."""
    if args.load == "wrk":
        wrk_load(url, payloads, args.clients, 5)
        rps, p50, p95, _, errors = wrk_load(url, payloads, args.clients, args.seconds)
        return rps, p50, p95, errors
    asyncio.run(closed_loop(url, payloads, args.clients, min(200, args.requests)))
    latencies, errors, seconds = asyncio.run(closed_loop(url, payloads, args.clients, args.requests))
    return len(latencies) / seconds, pct(latencies, .5), pct(latencies, .95), errors

if __name__ == "__main__":
    main()
