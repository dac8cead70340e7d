"""Where a small search's time goes between the index and the client, layer by layer, in one run.

    python benchmarks/bench_search_overhead.py [--dataset data/sample/scifact] [--queries 300] [--retriever bm25]

Per query (top_k 10, one client, sequential), p50 and p95 of: the collection's search (the floor), the route's
work without HTTP (request validation, retrieval, documents, JSON body), a bare FastAPI app with one route doing
the same search (the framework's floor), the whole ASGI app in-process (routing, middleware, dependencies; both
through httpx's ASGI transport, no socket), and HTTP to a real uvicorn on loopback (the
embedded default, one worker) beside two floors: uvicorn + FastAPI answering a body of the same size without
searching (the HTTP floor), and uvicorn serving the bare FastAPI app above (the same search behind the framework and
nothing else). Ratios are against the collection's search, the HTTP floor and the bare app over HTTP, measured in
the same run. A search inside a server costs more than in a hot loop here (the client's and the server's HTTP work
evict its index from the caches between requests), which is why "HTTP floor + search" underestimates the bare app.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic_core import to_json

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
from benchmarks.serving import running_server  # noqa: E402
from benchmarks.timing import percentiles, timed_each  # noqa: E402

PORT = 8796


def bare_app(collection):
    """The framework's floor: a FastAPI app with one route doing the same search and JSON body, nothing else
    (no validation model, auth, limits, middleware)."""
    app = FastAPI()

    @app.post("/v1/search")
    async def search(request: Request) -> Response:
        body = await request.json()
        documents = collection.search(body["retriever"], [body["query"]], body["top_k"])[0]
        return Response(to_json({"results": [{"query": body["query"], "documents": [
            {"id": d.id, "content": d.content, "meta": d.meta, "score": d.score} for d in documents]}]}),
            media_type="application/json")

    return app


async def asgi_samples(app, payloads: list[dict]) -> list[float]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for payload in payloads[:20]:
            (await client.post("/v1/search", json=payload)).raise_for_status()
        samples = []
        for payload in payloads:
            began = time.perf_counter()
            (await client.post("/v1/search", json=payload)).raise_for_status()
            samples.append(time.perf_counter() - began)
        return samples


def floor_app() -> FastAPI:
    """The HTTP floor: a FastAPI endpoint that reads the JSON request and answers a fixed body of the same size as
    ours (``SIFTRAG_FLOOR_BODY``: a file), without searching. Served by uvicorn like ours:
    ``uvicorn --factory benchmarks.bench_search_overhead:floor_app``."""
    body = Path(os.environ["SIFTRAG_FLOOR_BODY"]).read_bytes()
    app = FastAPI()

    @app.post("/v1/search")
    async def search(request: Request) -> Response:
        await request.json()
        return Response(body, media_type="application/json")

    return app


def bare_search_app() -> FastAPI:
    """The bare app over HTTP: ``uvicorn --factory benchmarks.bench_search_overhead:bare_search_app`` searches the
    collection named by ``SIFTRAG_BENCH_COLLECTION`` (``SIFTRAG_BENCH_RETRIEVER`` loaded before serving)."""
    from indexes.retriever import collection_manager

    collection = collection_manager().get(os.environ["SIFTRAG_BENCH_COLLECTION"])
    collection.loaded(os.environ["SIFTRAG_BENCH_RETRIEVER"])
    return bare_app(collection)


def http_samples(payloads: list[dict], command: list[str], env: dict[str, str]) -> list[float]:
    with running_server(command, PORT, env) as base, httpx.Client(base_url=base) as client:
        for payload in payloads[:20]:
            client.post("/v1/search", json=payload).raise_for_status()
        return timed_each(lambda p: client.post("/v1/search", json=p).raise_for_status(), payloads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("data/sample/scifact"))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--retriever", default="bm25", choices=["bm25", "dense", "tilde"])
    args = parser.parse_args()

    from api.app import create_app
    from api.routers.search import _search
    from api.schemas import SearchRequest
    from evals.beir_loader import load_beir
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.retriever import collection_manager

    data = load_beir(args.dataset)
    collection = ensure_dataset_collection(collection_manager(), args.dataset, [args.retriever])
    queries = [data.queries[q] for q in sorted(data.queries)][:args.queries]
    payloads = [{"collection": collection.name, "query": q, "retriever": args.retriever, "top_k": 10} for q in queries]
    for query in queries[:20]:
        collection.search(args.retriever, [query], 10)

    def route(payload: dict) -> None:
        body = SearchRequest(**payload)
        _search(body, body.all_queries(), body.top_k, None)

    def route_body(payload: dict) -> bytes:
        body = SearchRequest(**payload)
        return bytes(_search(body, body.all_queries(), body.top_k, None).body)

    typical = route_body(payloads[len(payloads) // 2])
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        handle.write(typical)
    uvicorn = [sys.executable, "-m", "uvicorn", "--port", str(PORT), "--log-level", "warning"]
    layers = {
        "collection.search": timed_each(lambda q: collection.search(args.retriever, [q], 10), queries),
        "route, no HTTP": timed_each(route, payloads),
        "ASGI, bare FastAPI": asyncio.run(asgi_samples(bare_app(collection), payloads)),
        "ASGI, siftrag": asyncio.run(asgi_samples(create_app(), payloads)),
        "HTTP floor": http_samples(payloads, [*uvicorn, "--factory", "benchmarks.bench_search_overhead:floor_app"],
                                   {"SIFTRAG_FLOOR_BODY": handle.name}),
        "HTTP, bare FastAPI": http_samples(
            payloads, [*uvicorn, "--factory", "benchmarks.bench_search_overhead:bare_search_app"],
            {"SIFTRAG_BENCH_COLLECTION": collection.name, "SIFTRAG_BENCH_RETRIEVER": args.retriever}),
        "HTTP, siftrag": http_samples(payloads, [*uvicorn, "api.app:app"], {"SIFTRAG_REDIS_URL": ""}),
    }
    os.unlink(handle.name)
    search = percentiles(layers["collection.search"])[0]
    floor = percentiles(layers["HTTP floor"])[0]
    bare = percentiles(layers["HTTP, bare FastAPI"])[0]
    print(f"{args.retriever}, top_k 10, {len(queries)} queries, one client, sequential; the HTTP floor answers a "
          f"fixed {len(typical)}-byte body (a typical response) without searching")
    print(f"{'layer':<20} {'p50 ms':>8} {'p95 ms':>8} {'x search':>9} {'x HTTP floor':>13} {'x HTTP bare':>12}")
    for name, samples in layers.items():
        p50, p95 = percentiles(samples)
        print(f"{name:<20} {p50:8.3f} {p95:8.3f} {p50 / search:8.1f}x {p50 / floor:12.2f}x {p50 / bare:11.2f}x")


if __name__ == "__main__":
    main()
