"""The bodies of jobs, shared by the Celery tasks and the embedded runner."""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from core.settings import get_settings
from evals.beir_loader import load_beir
from evals.dataset_collection import ensure_dataset_collection
from evals.metrics import evaluate
from evals.pipelines import batch_search, check_pipeline, required_kinds
from evals.report import SystemResult, write_report
from indexes.index_kind import index_kind
from indexes.ingest_files import read_documents_file
from indexes.retriever import collection_manager
from workers.job_context import JobContext
from workers.job_store import advance
from workers.locks import exclusive

INGEST_BATCH = 500
EVAL_CHUNK_QUERIES = 50


def build_index(ctx: JobContext, collection: str, kind: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build and publish a new version; builds of the same collection and kind queue on a lock."""
    index_kind(kind)
    target = collection_manager().get(collection)
    with exclusive(f"build/{collection}/{kind}", wait_s=get_settings().job_timeout_s) as lock:
        ctx.locks.append(lock)
        locked_at = time.time()
        ctx.check_cancelled()
        version = target.build(kind, options or {}, progress=ctx.progress)
        released_at = time.time()
    manifest = target.versions(kind).manifest(version)
    return {"collection": collection, "kind": kind, "version": version, "documents": manifest["documents"],
            "build_seconds": manifest["build_seconds"], "locked_at": locked_at, "released_at": released_at}


def new_upload_path() -> Path:
    """A fresh file for an ingest payload (the data dir is shared by the API and the workers)."""
    folder = Path(get_settings().data_dir) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex}.jsonl"


def ingest_documents(ctx: JobContext, collection: str, upload: str, delete_ids: list[str] | None = None) -> dict[str, Any]:
    """Upsert an uploaded JSONL file in batches, then delete ``delete_ids``; removes the upload."""
    target = collection_manager().get(collection)
    documents = read_documents_file(Path(upload)) if upload else []
    total = len(documents) + len(delete_ids or [])
    written = 0
    for start in range(0, len(documents), INGEST_BATCH):
        written += target.store.upsert(documents[start:start + INGEST_BATCH])
        ctx.progress(written, total)
    deleted = target.store.delete(delete_ids) if delete_ids else 0
    ctx.progress(total, total)
    if upload:
        Path(upload).unlink(missing_ok=True)
    return {"collection": collection, "upserted": written, "deleted": deleted, "revision": target.store.revision}


def prepare_evaluation(ctx: JobContext, dataset: str, pipelines: list[str], split: str = "test",
                       max_queries: int | None = None, chunk_queries: int = EVAL_CHUNK_QUERIES,
                       **_: Any) -> list[tuple[str, list[str]]]:
    """Index the dataset if needed and split the work into (pipeline, query-id chunk) pairs."""
    for pipeline in pipelines:
        check_pipeline(pipeline)
    data = load_beir(Path(dataset), split)
    kinds = sorted({k for p in pipelines for k in required_kinds(p)})
    ensure_dataset_collection(collection_manager(), Path(dataset), kinds)
    qids = sorted(data.queries)[:max_queries] if max_queries else sorted(data.queries)
    chunks = [(p, qids[i:i + chunk_queries]) for p in pipelines for i in range(0, len(qids), chunk_queries)]
    ctx.store.update(ctx.job_id, done=0, total=len(qids) * len(pipelines))
    return chunks


def evaluate_chunk(ctx: JobContext, dataset: str, pipeline: str, qids: list[str], split: str = "test",
                   top_k: int = 100, candidates: int = 100) -> dict[str, Any]:
    """Run one pipeline over some queries; returns the partial run and the search time."""
    from evals.dataset_collection import collection_name_for

    ctx.check_cancelled()
    data = load_beir(Path(dataset), split)
    search = batch_search(pipeline, collection_name_for(Path(dataset)), candidates)
    began = time.perf_counter()
    ranked = search([data.queries[q] for q in qids], top_k)
    seconds = time.perf_counter() - began
    advance(ctx.store, ctx.job_id, len(qids))
    run = {q: {d.id: float(d.score or 0.0) for d in docs} for q, docs in zip(qids, ranked)}
    return {"pipeline": pipeline, "run": run, "seconds": seconds}


def merge_evaluation(ctx: JobContext, parts: list[dict[str, Any]], dataset: str, pipelines: list[str],
                     split: str = "test", top_k: int = 100, **_: Any) -> dict[str, Any]:
    """Merge chunk runs per pipeline, score them, write the report under ``<data_dir>/reports/<job>``."""
    data = load_beir(Path(dataset), split)
    results = []
    for pipeline in pipelines:
        mine = [part for part in parts if part["pipeline"] == pipeline]
        run = {q: docs for part in mine for q, docs in part["run"].items()}
        qrels = {q: data.qrels[q] for q in run}
        results.append(SystemResult(pipeline, evaluate(run, qrels), sum(p["seconds"] for p in mine), len(run), run))
    out_dir = Path(get_settings().data_dir) / "reports" / ctx.job_id
    context = {"dataset": dataset, "split": split, "top_k": top_k, "queries": len(results[0].run), "job": ctx.job_id}
    from rich.console import Console

    report = write_report(results, out_dir, f"{Path(dataset).name} ({split})", context, Console(quiet=True))
    return {"report": str(report), "systems": {r.name: {**r.metrics, "ms_per_query": r.ms_per_query} for r in results}}


def train_dyprag(ctx: JobContext, dataset: str, name: str, model: str | None = None,
                 **options: Any) -> dict[str, Any]:
    """Train a DyPRAG translator on ``dataset`` and publish it as ``<data_dir>/models/dyprag/<name>``;
    trainings of the same name queue on a lock."""
    from rag.parametric.translator_store import translator_dir
    from rag.parametric.translator_training import DypragTraining, train_and_publish

    settings = DypragTraining.from_options(model or get_settings().llm_model, options)
    collection = ensure_dataset_collection(collection_manager(), Path(dataset), ["bm25"])
    with exclusive(f"train/dyprag/{name}", wait_s=get_settings().job_timeout_s) as lock:
        ctx.locks.append(lock)
        return train_and_publish(settings, Path(dataset), collection.name, translator_dir(name), ctx.progress)


def run_evaluation_in_process(ctx: JobContext, **params: Any) -> dict[str, Any]:
    """All evaluation steps in one process (the embedded runner)."""
    chunks = prepare_evaluation(ctx, **params)
    parts = [evaluate_chunk(ctx, params["dataset"], pipeline, qids, params.get("split", "test"),
                            params.get("top_k", 100), params.get("candidates", 100)) for pipeline, qids in chunks]
    return merge_evaluation(ctx, parts, **params)


