"""CPU the server still spends on a request after its ``deadline_ms`` has passed, per route, in one run.

    python benchmarks/bench_deadline_stop.py [--dataset data/sample/scifact] [--fraction 0.4] [--only NAME]

Starts the API (uvicorn, embedded default) over a collection of the dataset's first ``--collection-docs`` passages
(BM25 only, so rerankers encode what they score), warms each case up (models load), times one full request (its CPU is the work a
deadline cuts short), then sends it again with ``deadline_ms`` at ``--fraction`` of that request's time (so the
deadline falls inside the model work) and reads the server process's CPU time (user + system, all threads, from ``/proc``) from the moment the answer arrives until it stays
flat for a second. That figure is what the abandoned work cost after the deadline (goal: ≤ 0.5 s per route). A
route that takes no ``deadline_ms`` (a 422 naming it) is measured as a client that gives up at the deadline.
``--overhead`` also times each full request under a deadline that never passes (work under a deadline runs in small
passes: what that costs).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
from benchmarks.scratch_data_dir import scratch_data_dir
from benchmarks.serving import running_server

PORT = 8795
QUERY = "vitamin D deficiency and bone health"
TICK = os.sysconf("SC_CLK_TCK")


def server_pid(port: int) -> int:
    """The process listening on ``port`` (the uvicorn server itself, not a wrapper)."""
    inode = next(line.split()[9] for name in ("tcp", "tcp6") for line in Path(f"/proc/net/{name}").read_text()
                 .splitlines()[1:] if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if any(os.readlink(fd) == f"socket:[{inode}]" for fd in (entry / "fd").iterdir()):
                    return int(entry.name)
            except OSError:
                continue
    raise RuntimeError(f"no process listens on port {port}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_until_quiet(pid: int, quiet_s: float = 1.0, limit_s: float = 120.0) -> float:
    """CPU seconds ``pid`` spends from now until it has spent under 20 ms in ``quiet_s``."""
    began = last = cpu_seconds(pid)
    quiet_since, started = time.monotonic(), time.monotonic()
    while time.monotonic() - started < limit_s:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now - last > 0.02:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            break
    return last - began


def cases(texts: list[str]) -> dict[str, tuple[str, dict]]:
    """name → (route, body without deadline)."""
    twenty = [{"id": str(i), "content": t} for i, t in enumerate(texts[:20])]
    many = [{"id": str(i), "content": t} for i, t in enumerate(texts[:200])]
    return {
        "rerank pointwise 20": ("/v1/rerank", {"query": QUERY, "method": "pointwise", "documents": twenty,
                                               "top_k": 10}),
        "rerank first 20": ("/v1/rerank", {"query": QUERY, "method": "first", "documents": twenty, "top_k": 10}),
        "rerank embedding 200": ("/v1/rerank", {"query": QUERY, "documents": many, "top_k": 10}),
        "search + rerank pointwise 40": ("/v1/search", {"collection": "bench", "query": QUERY, "top_k": 10,
                                                        "rerank": "pointwise", "candidates": 40}),
        "answer tcra-semantic": ("/v1/answer", {"collection": "bench", "question": QUERY, "top_k": 5,
                                                "compressor": "tcra-semantic", "max_new_tokens": 128}),
        "answer plain": ("/v1/answer", {"collection": "bench", "question": QUERY, "top_k": 5,
                                        "max_new_tokens": 128}),
        "cohere pointwise 20": ("/v2/rerank", {"model": "pointwise", "query": QUERY, "documents": texts[:20]}),
        "tei embedding 100": ("/rerank", {"query": QUERY, "texts": texts[:100]}),  # chunks: under 200
    }


def late_request(client: httpx.Client, route: str, body: dict, deadline_ms: int) -> str:
    """Send ``body`` with ``deadline_ms``; how it ended. A route without the field: the client gives up then."""
    began = time.perf_counter()
    response = client.post(route, json={**body, "deadline_ms": deadline_ms})
    if response.status_code == 422 and "deadline_ms" in response.text:
        try:
            client.post(route, json=body, timeout=deadline_ms / 1000)
        except httpx.TimeoutException:
            return "no deadline_ms: client gave up"
        return "no deadline_ms: finished in time"
    partial = response.headers.get("X-Siftrag-Partial") == "true" or '"partial":true' in response.text
    return f"{response.status_code}{' partial' if partial else ''} in {1000 * (time.perf_counter() - began):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=REPO / "data/sample/scifact")
    parser.add_argument("--collection-docs", type=int, default=1000)
    parser.add_argument("--fraction", type=float, default=0.4, help="deadline = this × the full request's time")
    parser.add_argument("--only", action="append", help="run only these cases (repeatable)")
    parser.add_argument("--overhead", action="store_true", help="also time each case under a deadline of 600 s")
    args = parser.parse_args()
    with scratch_data_dir():
        from evals.beir_loader import read_corpus
        from indexes.document_store import indexable_text
        from indexes.retriever import collection_manager

        documents = list(read_corpus(args.dataset))[:args.collection_docs]
        collection = collection_manager().create("bench")
        collection.store.upsert(documents)
        collection.build("bm25")
        chosen = {name: case for name, case in cases([indexable_text(d) for d in documents]).items()
                  if not args.only or name in args.only}
        with running_server([sys.executable, str(REPO / "cli.py"), "serve", "--port", str(PORT)], PORT,
                            {"SIFTRAG_REDIS_URL": ""}) as base, httpx.Client(base_url=base, timeout=600) as client:
            pid = server_pid(PORT)
            idle = cpu_until_quiet(pid)
            print(f"deadline at {args.fraction:g} x each full request's time; server pid {pid}, {os.cpu_count()} "
                  f"CPUs; idle settle {idle:.2f} s CPU")
            print(f"{'case':<30} {'full request':>20} {'deadline ms':>11} {'CPU s after deadline':>21}  late request")
            for name, (route, body) in chosen.items():
                client.post(route, json=body).raise_for_status()  # loads the models
                cpu_until_quiet(pid)
                before, began = cpu_seconds(pid), time.perf_counter()
                client.post(route, json=body).raise_for_status()
                seconds = time.perf_counter() - began
                full = cpu_seconds(pid) - before + cpu_until_quiet(pid)
                deadline_ms = max(50, int(args.fraction * 1000 * seconds))
                outcome = late_request(client, route, body, deadline_ms)
                after = cpu_until_quiet(pid)
                print(f"{name:<30} {seconds:6.2f} s {full:6.2f} CPU s {deadline_ms:11d} {after:21.2f}  {outcome}",
                      flush=True)
                if args.overhead:
                    before, began = cpu_seconds(pid), time.perf_counter()
                    client.post(route, json={**body, "deadline_ms": 600_000}).raise_for_status()
                    print(f"{'  under a 600 s deadline':<30} {time.perf_counter() - began:6.2f} s "
                          f"{cpu_seconds(pid) - before + cpu_until_quiet(pid):6.2f} CPU s", flush=True)


if __name__ == "__main__":
    main()
