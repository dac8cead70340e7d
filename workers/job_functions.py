"""The bodies of jobs, shared by the Celery tasks and the embedded runner."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from core.settings import get_settings
from evals.dataset_collection import ensure_dataset_collection
from evals.engine import EvaluationSpec, merge, prepare
from evals.engine import evaluate_chunk as engine_chunk
from evals.report import PRIMARY_METRIC
from indexes.index_kind import index_kind
from indexes.retriever import collection_manager
from workers.job_context import JobContext
from workers.locks import exclusive
from workers.upload_staging import read_upload, remove_upload


def build_index(ctx: JobContext, collection: str, kind: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build and publish a new version; builds of the same collection and kind queue on a lock."""
    index_kind(kind)
    target = collection_manager().get(collection)
    with exclusive(f"build/{collection}/{kind}", wait_s=get_settings().job_timeout_s) as lock:
        ctx.locks.append(lock)
        locked_at = time.time()
        ctx.check_cancelled()
        version = target.build(kind, options or {}, progress=ctx.progress, before_publish=ctx.check_cancelled)
        released_at = time.time()
    manifest = target.versions(kind).manifest(version)
    return {"collection": collection, "kind": kind, "version": version, "documents": manifest["documents"],
            "build_seconds": manifest["build_seconds"], "locked_at": locked_at, "released_at": released_at}


def ingest_documents(ctx: JobContext, collection: str, upload: str, delete_ids: list[str] | None = None) -> dict[str, Any]:
    """Upsert the staged upload and delete ``delete_ids`` in one store transaction (a crash lands nothing);
    removes the upload, also when the job fails (jobs are not retried: nothing would read it again)."""
    try:
        target = collection_manager().get(collection)
        documents = read_upload(upload) if upload else []
        total = len(documents) + len(delete_ids or [])
        ctx.progress(0, total)
        written, deleted = target.store.apply(documents, delete_ids or [])
        ctx.progress(total, total)
    finally:
        if upload:
            remove_upload(upload)
    return {"collection": collection, "upserted": written, "deleted": deleted, "revision": target.store.revision}


def evaluation_spec(params: dict[str, Any]) -> EvaluationSpec:
    """The engine's spec from job parameters (``out_dir`` is the CLI's report folder, not part of the spec)."""
    return EvaluationSpec.model_validate({k: v for k, v in params.items() if k != "out_dir"})


def prepare_evaluation(ctx: JobContext, **params: Any) -> list[tuple[str, list[str]]]:
    """Index the dataset if needed and split the work into (pipeline, query-id chunk) pairs."""
    chunks = prepare(evaluation_spec(params))
    ctx.store.update(ctx.job_id, done=0, total=sum(len(qids) for _, qids in chunks))
    return chunks


def evaluate_chunk(ctx: JobContext, params: dict[str, Any], pipeline: str, qids: list[str]) -> dict[str, Any]:
    """Run one pipeline over some queries (the engine's chunk), then count them as done."""
    ctx.check_cancelled()
    part = engine_chunk(evaluation_spec(params), pipeline, qids)
    ctx.store.advance(ctx.job_id, len(qids))
    return part


def merge_evaluation(ctx: JobContext, parts: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    """Merge and score the chunks; the report goes to ``out_dir`` (CLI) or ``<data_dir>/reports/<job>``."""
    spec = evaluation_spec(params)
    out_dir = Path(params.get("out_dir") or Path(get_settings().data_dir) / "reports" / ctx.job_id)
    job = ctx.store.get(ctx.job_id)
    execution = {"runner": "job", "job": ctx.job_id, "worker_processes": len({p["pid"] for p in parts}),
                 "wall_seconds": round(time.time() - (job.started_at or time.time()), 3)}
    payload = merge(spec, parts, out_dir, Console(quiet=True), execution)
    return {"report": payload["report"], "baseline": payload["baseline"], "regressions": payload["regressions"],
            "systems": {s["name"]: {**s["metrics"], "ms_per_query": s["ms_per_query"],
                                    "statistics": s["statistics"][PRIMARY_METRIC], **s["extra"]}
                        for s in payload["systems"]}}


def train_dyprag(ctx: JobContext, dataset: str, name: str, model: str | None = None,
                 **options: Any) -> dict[str, Any]:
    """Train a DyPRAG translator on ``dataset`` and publish it as ``<data_dir>/models/dyprag/<name>``;
    trainings of the same name queue on a lock."""
    from evals.qa_dataset import read_questions
    from rag.parametric.translator_store import translator_dir
    from rag.parametric.translator_training import DypragTraining, train_and_publish

    settings = DypragTraining.from_options(model or get_settings().llm_model, options)
    collection = ensure_dataset_collection(collection_manager(), Path(dataset), ["bm25"])
    with exclusive(f"train/dyprag/{name}", wait_s=get_settings().job_timeout_s) as lock:
        ctx.locks.append(lock)
        questions = [item.question for item in read_questions(Path(dataset), settings.questions_needed)]
        return train_and_publish(settings, Path(dataset), questions, collection.name, translator_dir(name),
                                 ctx.progress)


def train_tilde(ctx: JobContext, dataset: str, name: str, encoder: str = "splade-tiny-bert", split: str = "train",
                expansion_top_k: int = 200, **options: Any) -> dict[str, Any]:
    """Train a TILDEv2 scorer on a BEIR folder's training split (BM25 hard negatives, expanded passages) and
    publish it as ``<data_dir>/models/tilde/<name>``; trainings of the same name queue on a lock."""
    from evals.tilde_training_set import tilde_training_set
    from indexes.tilde.scorer_store import scorer_dir
    from indexes.tilde.training import TrainingConfig, train_scorer

    config = TrainingConfig(encoder=str(resolve_encoder(encoder)), out=scorer_dir(name), **options)
    with exclusive(f"train/tilde/{name}", wait_s=get_settings().job_timeout_s) as lock:
        ctx.locks.append(lock)
        examples, record = tilde_training_set(Path(dataset), split, expansion_top_k)
        path = train_scorer(config, examples, lambda step, total, loss: ctx.progress(step, total), record)
    return {"scorer": name, "examples": len(examples), "path": str(path)}


def resolve_encoder(encoder: str) -> Path:
    """The folder of a BERT-vocabulary encoder given by registry name or path."""
    from core.model_registry import resolve_model

    return resolve_model(encoder).local_path or Path(encoder)


def train_reranker(ctx: JobContext, dataset: str, name: str, objective: str, split: str = "train",
                   depth: int = 20, skip_questions: int = 200, teacher: str = "labels",
                   **options: Any) -> dict[str, Any]:
    """Train a reranker adapter on a BEIR folder's training split (a QA folder's after its evaluation sample) and
    publish it as ``<data_dir>/models/rerankers/<name>``."""
    from evals.reranker_training_set import reranker_training_set
    from rerankers.training.trainer import RerankerTraining, train_reranker

    config = RerankerTraining(objective=objective, **options)
    examples, record = reranker_training_set(Path(dataset), split, depth, skip_questions=skip_questions,
                                             teacher=teacher)
    return _train_adapter(ctx, "rerankers", name, config.model,
                          lambda out, progress: train_reranker(config, examples, out, record, progress))


def train_cross_encoder(ctx: JobContext, datasets: list[str], name: str, negatives: int = 7, depth: int = 30,
                        dense_model: str | None = None, split: str = "train", skip_questions: int = 200,
                        **options: Any) -> dict[str, Any]:
    """Train a cross-encoder on the training splits of ``datasets`` (BM25 and dense hard negatives) and publish it
    as ``<data_dir>/models/rerankers/<name>``; trainings of the same name queue on a lock, a rerun resumes."""
    from core.adapters import adapter_dir
    from evals.cross_encoder_training_set import cross_encoder_training_set
    from rerankers.training.cross_encoder_trainer import CrossEncoderTraining
    from rerankers.training.cross_encoder_trainer import train_cross_encoder as train

    config = CrossEncoderTraining(**options)
    with exclusive(f"train/rerankers/{name}", wait_s=get_settings().job_timeout_s) as lock:
        ctx.locks.append(lock)
        examples, record = cross_encoder_training_set([Path(d) for d in datasets], negatives, depth, dense_model,
                                                      split, skip_questions, config.seed)
        result = train(config, examples, adapter_dir("rerankers", name), record,
                       lambda step, total, loss: ctx.progress(step, total))
    return {"cross_encoder": name, "queries": result["data"]["examples_used"], "steps": result["steps"],
            "final_loss": result["final_loss"], "seconds": result["seconds"]}


def train_embedder(ctx: JobContext, datasets: list[str], name: str, base: str, negatives: int = 1, depth: int = 30,
                   dense_model: str | None = None, split: str = "train", skip_questions: int = 200, half: bool = True,
                   leave_out_calibration: bool = False, **options: Any) -> dict[str, Any]:
    """Fine-tune the sentence encoder ``base`` on the training splits of ``datasets`` (judged positives, BM25 and
    dense hard negatives; without the relevance calibration's queries if asked) and publish it as
    ``<data_dir>/models/encoders/<name>``; trainings of the same name queue on a lock, a rerun resumes."""
    from evals.cross_encoder_training_set import cross_encoder_training_set
    from evals.encoder_training_set import encoder_triples, trained_query_ids
    from evals.score_calibration import without_calibration_queries
    from indexes.encoder_training import EncoderTraining
    from indexes.trained_encoders import train_and_publish_encoder

    config = EncoderTraining(**options)
    with exclusive(f"train/encoders/{name}", wait_s=get_settings().job_timeout_s) as lock:
        ctx.locks.append(lock)
        examples, record = cross_encoder_training_set([Path(d) for d in datasets], negatives, depth, dense_model,
                                                      split, skip_questions, config.seed)
        if leave_out_calibration:
            examples, left_out = without_calibration_queries(examples)
            record = {**record, **left_out}
        triples = encoder_triples(examples, config.seed)
        record = {**record, "query_ids": trained_query_ids(examples)}
        result = train_and_publish_encoder(name, base, config, triples, record, half,
                                           lambda step, total, loss: ctx.progress(step, total))
    return {"encoder": name, "triples": sum(result["triples"].values()), "steps": result["steps"],
            "final_loss": result["final_loss"], "seconds": result["seconds"]}


def train_reader(ctx: JobContext, datasets: list[str], name: str, skip_questions: list[int], depth: int = 20,
                 max_questions: int | None = None, **options: Any) -> dict[str, Any]:
    """Train a reader adapter on QA folders' questions after each one's evaluation sample (``skip_questions``, in
    the folders' order) and publish it as ``<data_dir>/models/readers/<name>``."""
    from evals.reader_training_set import pooled_reader_training_set
    from rag.reader_training import ReaderTraining, train_reader

    config = ReaderTraining(**options)
    sources = [(Path(folder), skip) for folder, skip in zip(datasets, skip_questions, strict=True)]
    examples, record = pooled_reader_training_set(sources, depth, max_questions)
    return _train_adapter(ctx, "readers", name, config.model,
                          lambda out, progress: train_reader(config, examples, out, record, progress))


def train_yes_no_head(ctx: JobContext, dataset: str, name: str, model: str, skip_questions: int = 200,
                      max_questions: int | None = None, top_k: int = 5, passage_words: int = 50,
                      layer: int | None = None) -> dict[str, Any]:
    """Fit a yes/no decision head on a QA folder's yes/no questions after its evaluation sample and publish it as
    ``<data_dir>/models/heads/<name>``; the states are cached as they are computed, so a rerun resumes."""
    from evals.yes_no_training_set import yes_no_training_set
    from rag.answer_generator import AnswerGenerator
    from rag.yes_no_head import LAYER_C, decision_states, fit_yes_no_head, head_dir

    began = time.time()
    generator = AnswerGenerator(model=model, answer_format="yes-no", passage_words=passage_words)
    prompts, gold, record = yes_no_training_set(Path(dataset), generator, top_k, skip_questions, max_questions)
    with exclusive(f"train/heads/{name}", wait_s=get_settings().job_timeout_s) as lock:
        ctx.locks.append(lock)
        states = decision_states(generator.llm, prompts, cache=get_settings().data_dir / "cache" / "decision-states",
                                 progress=ctx.progress)
        training = {"base_model": model, "objective": "yes-no-head", "answer_format": "yes-no", "data": record,
                    "hyperparameters": {"top_k": top_k, "passage_words": passage_words, "layer": layer,
                                        "probe": "standardized logistic regression; layer by 5-fold CV AUC at "
                                                 f"C = {LAYER_C}, then C by 5-fold CV AUC"}}
        head = fit_yes_no_head(name, states, gold, training, layer)
        head.training["seconds"] = round(time.time() - began, 1)
        head.save(head_dir(name))
    return {"head": name, "model": model, "layer": head.layer, "questions": len(gold),
            "cv_auc": round(head.training["cv_auc"], 4), "seconds": head.training["seconds"]}


def _train_adapter(ctx: JobContext, kind: str, name: str, base: str,
                   train: Callable[[Path, Callable[[int, int, float], None]], dict[str, Any]]) -> dict[str, Any]:
    """Run ``train(out, progress)`` for the adapter ``<data_dir>/models/<kind>/<name>`` under a lock (trainings of
    the same name queue) and summarize its record as the job's result."""
    from core.adapters import adapter_dir

    with exclusive(f"train/{kind}/{name}", wait_s=get_settings().job_timeout_s) as lock:
        ctx.locks.append(lock)
        result = train(adapter_dir(kind, name), lambda step, total, loss: ctx.progress(step, total))
    return {"adapter": name, "model": f"{base}+{name}", "steps": result["steps"],
            "final_loss": result["final_loss"], "seconds": result["seconds"]}


def run_evaluation_in_process(ctx: JobContext, **params: Any) -> dict[str, Any]:
    """All evaluation steps in one process (the embedded runner)."""
    chunks = prepare_evaluation(ctx, **params)
    parts = [evaluate_chunk(ctx, params, pipeline, qids) for pipeline, qids in chunks]
    return merge_evaluation(ctx, parts, **params)


