"""The body of a tuning job: synthetic queries from a collection's own passages train its dense encoder (the
``embedding`` reranker's model), which is published for that collection only if a held-out check finds it no worse
than the live one. Stages: sample → generate → filter → train → embed → check → publish (with a dense re-index).
Every stage's work is cached (queries by prompt, training in a work folder keyed by its data, embeddings by
content), so a rerun after a crash or a cancel redoes little; nothing is published before the check passes."""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from haystack import Document

from core.errors import InvalidInputError
from core.settings import get_settings
from evals.tuning_check import tuned_vs_live
from indexes.dense_index import embedding_cache_path, encode_with_cache
from indexes.document_store import indexable_text
from indexes.retriever import collection_manager
from rag.tuning.passage_sample import held_out, sample_passages
from rag.tuning.query_generation import demonstration_turns, generate_queries
from rag.tuning.round_trip import round_trip
from rag.tuning.tune_spec import TuneSpec
from rerankers.relevance_calibration import find_calibration, write_tuned_calibration
from workers.job_context import JobContext
from workers.locks import exclusive

KIND = "dense"
RERANK_METHOD = "embedding"  # the reranker the tuned dense encoder serves (its relevance calibration's method)


def check_tunable(collection: str, spec: TuneSpec) -> list[Document]:
    """The passages the run samples; InvalidInputError before anything is queued: no BM25 index, too few passages,
    an index backend without local model folders."""
    if get_settings().index_backend == "milvus":
        raise InvalidInputError("Tuning publishes models into the collection's folder: it needs the file index "
                                "backend (SIFTRAG_INDEX_BACKEND=files), not Milvus.")
    target = collection_manager().get(collection)
    if target.versions("bm25").current() is None:
        raise InvalidInputError(f"Collection '{collection}' has no bm25 index: build it first (tuning filters "
                                "generated queries and mines negatives with it).")
    return sample_passages(target, spec.passages, spec.seed)


def tune_collection(ctx: JobContext, collection: str, **options: Any) -> dict[str, Any]:
    """Run every stage; the result names what was kept and dropped, the check's figures and whether it published.
    Tunings of one collection queue on a lock."""
    spec = TuneSpec.model_validate(options)
    target = collection_manager().get(collection)
    settings = get_settings()
    seconds: dict[str, float] = {}
    began = time.time()

    def stage(name: str) -> None:
        seconds[name] = time.time()
        ctx.store.update(ctx.job_id, stage=name, done=0, total=None)
        ctx.check_cancelled()

    def ended(name: str) -> None:
        seconds[name] = round(time.time() - seconds[name], 1)

    with exclusive(f"tune/{collection}", wait_s=settings.job_timeout_s) as lock:
        ctx.locks.append(lock)
        stage("sample")
        documents = check_tunable(collection, spec)
        texts = [indexable_text(d) for d in documents]
        ended("sample")
        stage("generate")
        turns = demonstration_turns(target, spec.examples)
        queries = generate_queries(texts, turns, settings.llm_model, ctx.progress)
        ended("generate")
        stage("filter")
        kept = round_trip(target, queries, [d.id for d in documents], texts, negatives=1, depth=spec.round_trip_depth)
        heldout = {e.source_id for e in kept.kept if held_out(e.source_id, spec.heldout_share, spec.seed)}
        check = [e for e in kept.kept if e.source_id in heldout]
        train = [e for e in kept.kept if e.source_id not in heldout and e.negatives]
        if len(train) < spec.training.batch_size or not check:
            raise InvalidInputError(
                f"Only {len(train)} generated queries could train and {len(check)} check the model (of "
                f"{len(documents)} passages: {kept.empty} without a query, {kept.not_found} not found again by BM25): "
                "sample more passages, or give example queries.")
        ended("filter")
        stage("train")
        triples = [(e.query, e.source, e.negatives[0]) for e in train]
        key = hashlib.sha256(json.dumps([settings.embedding_model, spec.training.model_dump(), triples]).encode()
                             ).hexdigest()[:16]
        work = target.models.work_dir(KIND, key)
        model_dir = work / f"{collection}-{key[:12]}"  # its name keys the embedding cache: unique per training
        record = _trained(model_dir, settings.embedding_model, spec, triples, ctx)
        ended("train")
        stage("embed")
        every = list(target.store.iter_documents())
        encode_with_cache([indexable_text(d) for d in every], str(model_dir), embedding_cache_path(str(model_dir)),
                          ctx.progress)
        ended("embed")
        stage("check")
        live = target.models.live_path(KIND)
        base_calibration = find_calibration(RERANK_METHOD, settings.embedding_model)
        verdict = tuned_vs_live(target, check, str(live) if live else settings.embedding_model, str(model_dir),
                                base_calibration)
        ended("check")
        training = {"method": "synthetic queries (generic prompt)" if not spec.examples else
                    "synthetic queries (few-shot prompt from the operator's examples)",
                    "llm": settings.llm_model, "base_model": settings.embedding_model, "spec": spec.model_dump(),
                    "passages_sampled": len(documents), "queries_generated": len(queries) - kept.empty,
                    "dropped_empty": kept.empty, "dropped_round_trip": kept.not_found,
                    "kept": len(kept.kept), "training_queries": len(train), "heldout_queries": len(check),
                    "check": verdict, "trainer": record, "stage_seconds": seconds}
        result: dict[str, Any] = {"collection": collection, "kind": KIND, "published": False, **training}
        if not verdict["publish"] and not spec.force:
            result["reason"] = (f"the tuned encoder scored {verdict['tuned']} nDCG@10 on {verdict['queries']} "
                                f"held-out queries, below the live one's {verdict['live']}: nothing was published")
            return result
        stage("publish")
        (model_dir.parent / "training_queries.jsonl").write_text(
            "".join(json.dumps({"query": e.query, "source_id": e.source_id, "negative_ids": e.negative_ids,
                                "heldout": e.source_id in heldout}) + "\n"
                    for e in kept.kept))
        extra_files = [model_dir.parent / "training_queries.jsonl"]
        if base_calibration and verdict["calibration"]["inherited"]:
            extra_files.append(write_tuned_calibration(RERANK_METHOD, model_dir, base_calibration,
                                                       verdict["calibration"]))
        version = target.models.publish(KIND, model_dir, {"training": {**training, "seconds": round(
            time.time() - began, 1)}}, extra_files=extra_files)
        index_version = target.build(KIND, {}, progress=ctx.progress)  # the re-index with the tuned encoder
        ended("publish")
        return {**result, "published": True, "model_version": version, "dense_version": index_version,
                "seconds": round(time.time() - began, 1)}


def _trained(model_dir: Any, base: str, spec: TuneSpec, triples: list[tuple[str, str, str]],
             ctx: JobContext) -> dict[str, Any]:
    """Train into ``model_dir`` unless a finished run of the same data is there (its record is then read)."""
    from indexes.encoder_training import train_encoder

    finished = model_dir.parent / "trainer.json"
    if finished.exists():
        return json.loads(finished.read_text())
    record = train_encoder(base, spec.training, triples, model_dir,
                           lambda step, total, loss: ctx.progress(step, total))
    finished.write_text(json.dumps(record))
    return record
