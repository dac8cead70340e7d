"""Job overhead: time from ``POST …/indexes/{kind}:build`` to the first successful search, beside the
same build called in-process, for the embedded runner and (when Redis answers) a Celery worker.

    python benchmarks/bench_job_overhead.py [--dataset data/sample/scifact] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
PORT = 8798
REDIS_URL = "redis://127.0.0.1:6379/12"


def build_to_searchable(client: httpx.Client, collection: str, kind: str) -> float:
    began = time.perf_counter()
    job = client.post(f"/v1/collections/{collection}/indexes/{kind}:build").json()
    while job["state"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.02)
        job = client.get(f"/v1/jobs/{job['id']}").json()
    assert job["state"] == "succeeded", job
    response = client.post("/v1/search", json={"collection": collection, "query": "protein", "retriever": kind})
    assert response.status_code == 200
    return time.perf_counter() - began


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "cli.py"), *args], cwd=REPO, env=env, start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from evals.dataset_collection import collection_name_for, ensure_dataset_collection
    from indexes.retriever import collection_manager

    collection = ensure_dataset_collection(collection_manager(), args.dataset, ["bm25", "dense"])
    name = collection_name_for(args.dataset)
    inproc = {}
    for kind in ("bm25", "dense"):
        samples = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            collection.build(kind)
            collection.search(kind, ["protein"], 10)
            samples.append(time.perf_counter() - began)
        inproc[kind] = statistics.median(samples)
    modes = [("embedded", {})]
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()
        modes.append(("celery", {"SIFTRAG_REDIS_URL": REDIS_URL}))
    except Exception:
        print("Redis not reachable: Celery mode skipped")
    print(f"{name}: {collection.store.count()} documents (dense builds reuse cached embeddings)")
    for mode, extra in modes:
        env = {**os.environ, "SIFTRAG_REDIS_URL": "", **extra}
        processes = [start(["serve", "--port", str(PORT)], env)]
        if mode == "celery":
            processes.append(start(["worker", "--concurrency", "1"], env))
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=600) as client:
                for _ in range(300):
                    try:
                        client.get("/healthz")
                        break
                    except httpx.HTTPError:
                        time.sleep(0.2)
                build_to_searchable(client, name, "bm25")  # warm-up: worker imports and model load
                build_to_searchable(client, name, "dense")
                for kind in ("bm25", "dense"):
                    job_s = statistics.median(build_to_searchable(client, name, kind) for _ in range(args.repeats))
                    print(f"{mode:<9} {kind:<6} build→searchable {1000 * job_s:8.1f} ms   in-process build+search "
                          f"{1000 * inproc[kind]:8.1f} ms   overhead x{job_s / inproc[kind]:.2f} "
                          f"(+{1000 * (job_s - inproc[kind]):.0f} ms)")
        finally:
            for process in processes:
                process.terminate()
                process.wait()


if __name__ == "__main__":
    main()
