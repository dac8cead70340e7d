"""Celery tasks: thin wrappers that run the job bodies with a JobContext."""
from __future__ import annotations

from typing import Any, cast

from celery import chord

from workers.celery_app import celery_app
from workers.job_context import JobContext
from workers.job_functions import (
    build_index,
    evaluate_chunk,
    ingest_documents,
    merge_evaluation,
    prepare_evaluation,
    train_cross_encoder,
    train_dyprag,
    train_embedder,
    train_reader,
    train_reranker,
    train_tilde,
    train_yes_no_head,
)
from workers.job_model import JobState
from workers.job_store import RedisJobStore
from workers.source_ingest_job import ingest_files
from workers.stores import job_store
from workers.tune_job import tune_collection


def _context(job_id: str) -> tuple[JobContext, dict[str, Any]]:
    store = job_store()
    return JobContext(store, job_id), store.get(job_id).params


def _step_context(job_id: str) -> tuple[JobContext, dict[str, Any]]:
    """The context of a queued step of an evaluation (a chunk, the merge), counted as no longer waiting."""
    ctx, params = _context(job_id)
    cast(RedisJobStore, ctx.store).add_queued_steps(job_id, -1)
    return ctx, params


def _step_waiting(store: RedisJobStore, job_id: str) -> bool:
    """Whether a step of the evaluation waits in the queue: a chunk that has not started, or the merge once every
    chunk is done (a chunk whose worker died leaves the merge unqueued: the job is then reaped)."""
    queued = store.queued_steps(job_id)
    if queued != 1:
        return queued > 1
    job = store.get(job_id)
    return job.total is not None and job.done >= job.total


@celery_app.task(name="siftrag.build")
def build_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: build_index(c, **params))


@celery_app.task(name="siftrag.ingest")
def ingest_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: ingest_documents(c, **params))


@celery_app.task(name="siftrag.ingest_files")
def ingest_files_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: ingest_files(c, **params))


@celery_app.task(name="siftrag.evaluate")
def evaluate_task(job_id: str) -> None:
    """Prepare, then fan the query chunks out across workers; a chord merges them."""
    ctx, params = _context(job_id)
    chunks: list[tuple[str, list[str]]] = []
    ctx.run(lambda c: chunks.extend(prepare_evaluation(c, **params)), finish=False)
    store = cast(RedisJobStore, ctx.store)
    if store.get(job_id).state is not JobState.running:
        return
    store.add_queued_steps(job_id, len(chunks) + 1)
    chord(
        evaluate_chunk_task.s(job_id, pipeline, qids) for pipeline, qids in chunks
    )(merge_evaluation_task.s(job_id))
    ctx.heartbeat_while(lambda: _step_waiting(store, job_id))


@celery_app.task(name="siftrag.evaluate_chunk")
def evaluate_chunk_task(job_id: str, pipeline: str, qids: list[str]) -> dict[str, Any]:
    ctx, params = _step_context(job_id)
    parts: list[dict[str, Any]] = []
    ctx.run(lambda c: parts.append(evaluate_chunk(c, params, pipeline, qids)), finish=False)
    return parts[0] if parts else {"pipeline": pipeline, "run": {}, "seconds": 0.0, "costs": [], "pid": 0,
                                   "llm_loads": 0}


@celery_app.task(name="siftrag.evaluate_merge")
def merge_evaluation_task(parts: list[dict[str, Any]], job_id: str) -> None:
    ctx, params = _step_context(job_id)
    ctx.run(lambda c: merge_evaluation(c, parts, **params))


@celery_app.task(name="siftrag.train_dyprag")
def train_dyprag_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: train_dyprag(c, **params))


@celery_app.task(name="siftrag.train_tilde")
def train_tilde_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: train_tilde(c, **params))


@celery_app.task(name="siftrag.train_reranker")
def train_reranker_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: train_reranker(c, **params))


@celery_app.task(name="siftrag.train_cross_encoder")
def train_cross_encoder_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: train_cross_encoder(c, **params))


@celery_app.task(name="siftrag.train_embedder")
def train_embedder_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: train_embedder(c, **params))


@celery_app.task(name="siftrag.train_reader")
def train_reader_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: train_reader(c, **params))


@celery_app.task(name="siftrag.train_yes_no_head")
def train_yes_no_head_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: train_yes_no_head(c, **params))


@celery_app.task(name="siftrag.tune")
def tune_task(job_id: str) -> None:
    ctx, params = _context(job_id)
    ctx.run(lambda c: tune_collection(c, **params))
