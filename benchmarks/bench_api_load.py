"""/v1/search under concurrent load on loopback, beside the same search called in-process.

    python benchmarks/bench_api_load.py [--dataset data/sample/scifact] [--clients 50] [--requests 2000]
    python benchmarks/bench_api_load.py --healthz-only   # /healthz p50/p99 idle vs under the largest search

Starts the API (uvicorn, embedded default) in a subprocess over the dataset's collection, then runs
a bounded asyncio/httpx load generator: ``--clients`` concurrent clients, closed loop (each sends its
next request when the last one answered) and open loop (a fixed total arrival rate, ``--rate``).
Prints requests/s, p50/p95/p99 and errors per retriever, and the HTTP/in-process latency ratio.
"""
from __future__ import annotations

import argparse
import asyncio
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
PORT = 8799


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def closed_loop(url: str, payloads: list[dict], clients: int, total: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client_task(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            began = time.perf_counter()
            response = await client.post(url, json=payloads[i % len(payloads)])
            latencies.append(time.perf_counter() - began)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        began = time.perf_counter()
        await asyncio.gather(*(client_task(client) for _ in range(clients)))
        return latencies, errors, time.perf_counter() - began


async def open_loop(url: str, payloads: list[dict], clients: int, rate: float, total: int) -> tuple[list[float], int, float]:
    """``clients`` clients sharing a fixed arrival rate (each waits for its own slot)."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()

    async def client_task(client: httpx.AsyncClient, offset: int) -> None:
        nonlocal errors
        for i in range(offset, total, clients):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            began = time.perf_counter()
            response = await client.post(url, json=payloads[i % len(payloads)])
            latencies.append(time.perf_counter() - began)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(client_task(client, c) for c in range(clients)))
    return latencies, errors, time.perf_counter() - start


def loop_search(base: str, search: dict, deadline: float, done) -> None:
    """One searcher process: send ``search`` until ``deadline`` (its own process, so reading the large responses
    never delays the probes)."""
    with httpx.Client(timeout=120) as client:
        while time.time() < deadline:
            response = client.post(f"{base}/v1/search", json=search)
            assert response.status_code == 200, response.text[:200]
            with done.get_lock():
                done.value += 1


async def healthz_probes(base: str, seconds: float, search: dict | None, searchers: int = 1) -> tuple[list[float], int]:
    """/healthz latencies, probed every 20 ms for ``seconds``, while ``searchers`` other processes send ``search``
    in a loop (None: idle); and how many searches completed."""
    import multiprocessing

    done = multiprocessing.Value("i", 0)
    deadline = time.time() + seconds
    workers = [multiprocessing.Process(target=loop_search, args=(base, search, deadline, done))
               for _ in range(searchers if search else 0)]
    for worker in workers:
        worker.start()
    probes: list[float] = []
    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.sleep(0.5)
        while time.time() < deadline:
            began = time.perf_counter()
            await client.get(f"{base}/healthz")
            probes.append(time.perf_counter() - began)
            await asyncio.sleep(0.02)
    for worker in workers:
        worker.join()
    return probes, done.value


class WrkUnavailable(RuntimeError):
    """wrk is not installed, or its run printed no summary."""


def wrk_load(url: str, payloads: list[dict], clients: int, seconds: int) -> tuple[float, float, float, float, int]:
    """The same closed loop driven by wrk (C, far lighter than a Python client, so the server, not the load
    generator, takes the CPU), cycling the payloads: (requests/s, p50, p95, p99 ms, errors)."""
    import json
    import shutil
    import tempfile

    if not shutil.which("wrk"):
        raise WrkUnavailable("wrk not installed (apt-get install wrk)")
    bodies = ",".join("[==[" + json.dumps(p) + "]==]" for p in payloads)
    script = (f"local bodies = {{{bodies}}}\nlocal i = 0\nrequest = function()\n  i = i % #bodies + 1\n"
              "  return wrk.format('POST', nil, {['Content-Type']='application/json'}, bodies[i])\nend\n"
              "done = function(summary, latency, requests)\n"
              "  io.write(string.format('WRK %.1f %.2f %.2f %.2f %d\\n', summary.requests / (summary.duration / 1e6),"
              " latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,"
              " summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))\nend\n")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "-s",
                                 handle.name, url], capture_output=True, text=True).stdout
    finally:
        os.unlink(handle.name)
    line = next((row for row in output.splitlines() if row.startswith("WRK ")), None)
    if line is None:
        raise WrkUnavailable(f"wrk failed: {output[-200:]}")
    rps, p50, p95, p99, errors = line.split()[1:]
    return float(rps), float(p50), float(p95), float(p99), int(errors)


def wrk_run(url: str, payloads: list[dict], clients: int, seconds: int) -> str:
    """``wrk_load`` as one line of the table, or why it did not run."""
    try:
        rps, p50, p95, p99, errors = wrk_load(url, payloads, clients, seconds)
    except WrkUnavailable as reason:
        return f"{reason}: skipped"
    return f"{rps:7.1f} req/s  p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  p99 {p99:7.2f} ms  errors {errors}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop arrivals per second (all clients)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--healthz-only", action="store_true", help="only /healthz idle vs under maximal searches")
    parser.add_argument("--healthz-seconds", type=float, default=20.0)
    args = parser.parse_args()

    from evals.beir_loader import load_beir
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.retriever import collection_manager

    data = load_beir(args.dataset)
    collection = ensure_dataset_collection(collection_manager(), args.dataset, ["bm25", "dense"])
    queries = [data.queries[q] for q in sorted(data.queries)]
    server = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "serve", "--port", str(PORT),
                               "--workers", str(args.workers)], cwd=REPO,
                              env={**os.environ, "SIFTRAG_REDIS_URL": ""})
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        from core.settings import get_settings

        limit = get_settings().max_search_results
        largest = {"collection": collection.name, "top_k": 100, "queries": [queries[i % len(queries)]
                                                                             for i in range(limit // 100)]}
        idle, _ = asyncio.run(healthz_probes(f"http://127.0.0.1:{PORT}", args.healthz_seconds / 4, None))
        busy, searches = asyncio.run(healthz_probes(f"http://127.0.0.1:{PORT}", args.healthz_seconds, largest))
        print(f"/healthz idle: p50 {pct(idle, .5):.2f} ms p99 {pct(idle, .99):.2f} ms ({len(idle)} probes); while one "
              f"client process loops the largest allowed search ({len(largest['queries'])} queries x top_k 100 = {limit} "
              f"results, {searches} done): p50 {pct(busy, .5):.2f} ms p99 {pct(busy, .99):.2f} ms "
              f"({len(busy)} probes; p99 x{pct(busy, .99) / pct(idle, .99):.1f} of idle)")
        if args.healthz_only:
            return
        url = f"http://127.0.0.1:{PORT}/v1/search"
        print(f"{args.clients} clients, {args.requests} requests per run, top_k=10, {len(queries)} distinct queries, "
              f"{args.workers} API worker process(es)")
        for retriever in ("bm25", "dense"):
            payloads = [{"collection": collection.name, "query": q, "retriever": retriever, "top_k": 10}
                        for q in queries]
            for payload in payloads[:50]:
                httpx.post(url, json=payload)
            inproc = []
            for q in queries:
                began = time.perf_counter()
                collection.search(retriever, [q], 10)
                inproc.append(time.perf_counter() - began)
            single = []
            with httpx.Client() as client:
                for payload in payloads:
                    began = time.perf_counter()
                    client.post(url, json=payload)
                    single.append(time.perf_counter() - began)
            print(f"\n{retriever}: in-process p50 {pct(inproc, .5):.2f} ms; HTTP one client p50 "
                  f"{pct(single, .5):.2f} ms (x{statistics.median(single) / statistics.median(inproc):.1f})")
            for label, runner in (
                ("closed loop", closed_loop(url, payloads, args.clients, args.requests)),
                (f"open loop {args.rate:.0f} req/s", open_loop(url, payloads, args.clients, args.rate, args.requests)),
            ):
                latencies, errors, seconds = asyncio.run(runner)
                print(f"  {label:<22} {len(latencies) / seconds:7.1f} req/s  p50 {pct(latencies, .5):7.2f} ms  "
                      f"p95 {pct(latencies, .95):7.2f} ms  p99 {pct(latencies, .99):7.2f} ms  errors {errors}")
            print(f"  {'closed loop (wrk, 10 s)':<22} {wrk_run(url, payloads, args.clients, 10)}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
