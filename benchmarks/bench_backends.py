"""The index backends side by side in one run: local files (bm25s, FAISS, the TILDEv2 matrix) against Milvus
(Milvus Lite embedded, or the server in SIFTRAG_MILVUS_URI), on SciFact and on a 10x synthetic corpus (SciFact
repeated with perturbed ids), so the table shows how each grows.

    python benchmarks/bench_backends.py [--dataset data/sample/scifact] [--queries 100] [--scales 1,10]
                                        [--kinds bm25,dense,tilde] [--data-dir DIR]

Per backend, scale and kind: index build throughput (documents/s; embeddings and impacts are computed once
before timing, so this is the index itself), then p50/p95 latency of one-query searches (top 10), and hybrid
(bm25 + dense, RRF). Then the API (`siftrag serve`) under wrk, `--clients` connections of bm25 `/v1/search` on the
1x corpus, per backend. Ratios are Milvus / local, measured in the same run. Without SIFTRAG_MILVUS_URI the bench
starts a Milvus Lite server process (what several processes share; an embedded file serves one process only).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api_load import wrk_load  # noqa: E402
from serving import running_server  # noqa: E402

from benchmarks.timing import percentiles, timed_each  # noqa: E402

BACKENDS = ("local", "milvus")


def use_backend(backend: str) -> None:
    from core.settings import get_settings

    os.environ["SIFTRAG_INDEX_BACKEND"] = backend
    get_settings.cache_clear()


@contextmanager
def milvus_server(folder: Path) -> Iterator[str]:
    """SIFTRAG_MILVUS_URI when set, else a Milvus Lite server process on a free port, stopped at the end."""
    if os.environ.get("SIFTRAG_MILVUS_URI"):
        yield os.environ["SIFTRAG_MILVUS_URI"]
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "milvus.db"),
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        os.environ["SIFTRAG_MILVUS_URI"] = f"http://127.0.0.1:{port}"
        yield os.environ["SIFTRAG_MILVUS_URI"]
    finally:
        server.terminate()
        server.wait()


def api_load(collection: str, queries: list[str], backend: str, clients: int, seconds: int) -> tuple[float, ...]:
    """(requests/s, p50, p95 ms, errors) of bm25 /v1/search on ``collection`` through `siftrag serve`."""
    port = 8791
    command = [sys.executable, str(Path(__file__).resolve().parents[1] / "cli.py"), "serve", "--port", str(port)]
    payloads = [{"collection": collection, "query": q, "retriever": "bm25", "top_k": 10} for q in queries]
    with running_server(command, port, {"SIFTRAG_INDEX_BACKEND": backend}) as base:
        url = f"{base}/v1/search"
        wrk_load(url, payloads, clients, 3)  # warm
        rps, p50, p95, _, errors = wrk_load(url, payloads, clients, seconds)
    return rps, p50, p95, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--kinds", default="bm25,dense,tilde")
    parser.add_argument("--data-dir", type=Path, help="reuse this data dir (its embedding and impact caches)")
    parser.add_argument("--clients", type=int, default=50, help="API load: concurrent connections")
    parser.add_argument("--api-seconds", type=int, default=20, help="API load per backend; 0 skips it")
    args = parser.parse_args()
    os.environ["SIFTRAG_DATA_DIR"] = str(args.data_dir or tempfile.mkdtemp(prefix="bench-backends-"))
    use_backend("local")
    with milvus_server(Path(os.environ["SIFTRAG_DATA_DIR"])) as uri:
        run(args, uri)


def run(args: argparse.Namespace, milvus_uri: str) -> None:
    from haystack import Document

    from evals.beir_loader import load_beir
    from indexes.retriever import collection_manager
    from rag.hybrid import HybridRetriever

    data = load_beir(args.dataset)
    corpus = list(data.corpus())
    queries = list(data.queries.values())[: args.queries]
    kinds = args.kinds.split(",")
    rows = []
    api = {}
    for scale in (int(s) for s in args.scales.split(",")):
        name = f"bench-backends-{scale}x"
        manager = collection_manager()
        if name in manager.names():
            use_backend("milvus")
            manager.delete(name)
            use_backend("local")
        collection = manager.create(name)
        documents = [Document(id=d.id if copy == 0 else f"{d.id}~{copy}", content=d.content, meta=d.meta)
                     for copy in range(scale) for d in corpus]
        for start in range(0, len(documents), 5000):
            collection.store.upsert(documents[start:start + 5000])
        for kind in kinds:  # fill the embedding and impact caches, so builds below time the index only
            collection.build(kind)
        for backend in BACKENDS:
            use_backend(backend)
            for kind in kinds:
                began = time.perf_counter()
                collection.build(kind)
                build_s = time.perf_counter() - began
                collection.search(kind, queries[:2], top_k=10)  # load
                p50, p95 = percentiles(timed_each(lambda q, k=kind: collection.search(k, [q], top_k=10), queries))
                rows.append((scale, len(documents), backend, kind, len(documents) / build_s, p50, p95))
            if {"bm25", "dense"} <= set(kinds):
                hybrid = HybridRetriever(name, top_k=10)
                hybrid.run_batch(queries[:2])
                p50, p95 = percentiles(timed_each(lambda q: hybrid.run_batch([q]), queries))
                rows.append((scale, len(documents), backend, "hybrid", float("nan"), p50, p95))
            if scale == 1 and args.api_seconds and "bm25" in kinds:
                api[backend] = api_load(name, queries, backend, args.clients, args.api_seconds)
        manager.delete(name)  # on the Milvus backend: drops its Milvus collections and the local folder
        use_backend("local")

    print(f"\n{len(queries)} queries, one per search, top 10; Milvus at {milvus_uri}\n")
    print("| corpus | docs | kind | backend | build docs/s | p50 ms | p95 ms | p50 × local |")
    print("|---|---|---|---|---|---|---|---|")
    local = {(r[0], r[3]): r for r in rows if r[2] == "local"}
    for scale, docs, backend, kind, throughput, p50, p95 in sorted(rows, key=lambda r: (r[0], r[3], r[2])):
        ratio = p50 / local[(scale, kind)][5]
        print(f"| {scale}x | {docs:,} | {kind} | {backend} | {throughput:,.0f} | {p50:.1f} | {p95:.1f} | "
              f"{ratio:.2f} |")

    if api:
        print(f"\nAPI: bm25 /v1/search, 1x corpus, {args.clients} connections (wrk, {args.api_seconds} s)\n")
        print("| backend | req/s | × local | p50 ms | p95 ms | errors |")
        print("|---|---|---|---|---|---|")
        for backend, (rps, p50, p95, errors) in api.items():
            print(f"| {backend} | {rps:.1f} | {rps / api['local'][0]:.2f} | {p50:.0f} | {p95:.0f} | {errors} |")


if __name__ == "__main__":
    main()
