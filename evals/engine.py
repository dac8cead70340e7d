"""The one retrieval-evaluation engine: plan → chunks → merge.

The CLI (in-process or N local worker processes), the embedded job runner and the Celery workers all run
the same three steps: ``prepare`` (validate, index the dataset, split the queries into chunks),
``evaluate_chunk`` (one pipeline over some queries: the partial run, its time and its reranking cost) and
``merge`` (per-query scores, statistics against the baseline, the report and a row per system in the
results store). Chunk results are plain JSON, so they travel through Celery unchanged.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from core.errors import InvalidInputError, NotFoundError
from evals.beir_loader import BeirDataset, load_beir
from evals.dataset_collection import check_dataset_collection, collection_name_for, ensure_dataset_collection
from evals.metrics import per_query
from evals.pipelines import batch_search, check_pipeline_options, parse_pipeline, required_kinds
from evals.provenance import code_revision, pipeline_provenance
from evals.report import PRIMARY_METRIC, SystemResult, file_stem, write_report
from evals.results_store import ResultRow, ResultsStore
from indexes.retriever import collection_manager

QUERY_BATCH = 16
COST_KEYS = ("latency_ms", "forward_passes", "prompt_tokens", "generated_tokens")
Chunk = tuple[str, list[str]]  # (pipeline, query ids)


class EvaluationSpec(BaseModel):
    """Everything that defines an evaluation; the job parameters of the API and the CLI alike."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    pipelines: list[str] = Field(min_length=1)
    split: str = "test"
    top_k: int = Field(default=100, ge=1)
    candidates: int = Field(default=100, ge=1)
    rerank_options: dict[str, Any] = Field(default_factory=dict)
    max_queries: int | None = Field(default=None, ge=1)
    chunk_queries: int = Field(default=25, ge=1)
    baseline: str | None = None
    keep_identical_ids: bool = False

    @property
    def baseline_pipeline(self) -> str:
        return self.baseline or self.pipelines[0]

    def check(self) -> None:
        """NotFoundError for a missing dataset folder; ConflictError when its collection name belongs to another
        collection; InvalidInputError for unknown or repeated pipelines, bad rerank options or a baseline not
        evaluated."""
        if not Path(self.dataset).is_dir():
            raise NotFoundError(f"Dataset folder '{self.dataset}' does not exist.")
        if len(set(self.pipelines)) != len(self.pipelines):
            raise InvalidInputError(f"Pipelines are repeated: {', '.join(self.pipelines)}.")
        for pipeline in self.pipelines:
            check_pipeline_options(pipeline, self.rerank_options)
        check_dataset_collection(collection_manager(), Path(self.dataset))
        if self.baseline_pipeline not in self.pipelines:
            raise InvalidInputError(f"Baseline '{self.baseline}' is not one of the evaluated pipelines "
                                    f"({', '.join(self.pipelines)}).")

    def config(self, pipeline: str, queries: int) -> dict[str, Any]:
        """What, besides the pipeline and the dataset, changes its numbers (the results-store key)."""
        reranked = {"candidates": self.candidates, "rerank_options": self.rerank_options} \
            if parse_pipeline(pipeline)[1] else {}
        return {"top_k": self.top_k, **reranked, "identical_ids": "kept" if self.keep_identical_ids else "ignored",
                "queries": queries}


@lru_cache(maxsize=4)
def _dataset(dataset: str, split: str, stamp: float) -> BeirDataset:
    return load_beir(Path(dataset), split)


def load_dataset(spec: EvaluationSpec) -> BeirDataset:
    """The dataset's queries and qrels (cached per process while the qrels file is unchanged)."""
    root = Path(spec.dataset)
    stamp = max((p.stat().st_mtime for p in (root / "qrels").glob(f"{spec.split}.tsv*")), default=0.0) \
        if root.is_dir() else 0.0
    return _dataset(spec.dataset, spec.split, stamp)


def selected_query_ids(spec: EvaluationSpec, data: BeirDataset) -> list[str]:
    qids = sorted(data.queries)
    return qids[:spec.max_queries] if spec.max_queries else qids


def prepare(spec: EvaluationSpec, progress: Callable[[int, int | None], None] | None = None) -> list[Chunk]:
    """Validate, make sure the dataset's collection and indexes are live, and split the work into chunks."""
    spec.check()
    data = load_dataset(spec)
    kinds = sorted({kind for pipeline in spec.pipelines for kind in required_kinds(pipeline)})
    ensure_dataset_collection(collection_manager(), Path(spec.dataset), kinds, progress=progress)
    qids = selected_query_ids(spec, data)
    step = spec.chunk_queries
    return [(p, qids[i:i + step]) for p in spec.pipelines for i in range(0, len(qids), step)]


def evaluate_chunk(spec: EvaluationSpec, pipeline: str, qids: list[str]) -> dict[str, Any]:
    """One pipeline over ``qids``: the partial run, search seconds, per-query reranking cost, and which
    process ran it with how many LLM loads so far (models load once per worker process)."""
    from core.model_cache import load_counts

    data = load_dataset(spec)
    search = batch_search(pipeline, collection_name_for(Path(spec.dataset)), spec.candidates, spec.rerank_options)
    run: dict[str, dict[str, float]] = {}
    seconds = 0.0
    for start in range(0, len(qids), QUERY_BATCH):
        batch = qids[start:start + QUERY_BATCH]
        began = time.perf_counter()
        ranked = search([data.queries[q] for q in batch], spec.top_k,
                        exclude_ids=None if spec.keep_identical_ids else batch)
        seconds += time.perf_counter() - began
        for qid, documents in zip(batch, ranked):
            run[qid] = {d.id: float(d.score or 0.0) for d in documents}
    costs = [{k: float(c.get(k, 0) or 0) for k in COST_KEYS} for c in search.costs]
    return {"pipeline": pipeline, "run": run, "seconds": seconds, "costs": costs, "pid": os.getpid(),
            "llm_loads": load_counts().get("llm", 0)}


def mean_costs(costs: list[dict[str, float]]) -> dict[str, float]:
    """Per-query means of a reranker's reported cost (latency, forward passes, tokens)."""
    return {f"rerank_{k}": round(sum(c.get(k, 0) for c in costs) / len(costs), 2) for k in COST_KEYS} \
        if costs else {}


def merge(spec: EvaluationSpec, parts: list[dict[str, Any]], out_dir: Path, console: Console | None = None,
          execution: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score the merged runs, compare them with the baseline, write the report, record every system in the
    results store (flagging a significant drop against the previous run of the same configuration).
    ``execution`` (where and how long the chunks ran) goes into the report as it is."""
    data = load_dataset(spec)
    qids = selected_query_ids(spec, data)
    qrels = {q: data.qrels[q] for q in qids}
    collection = collection_manager().get(collection_name_for(Path(spec.dataset)))
    results = []
    for pipeline in spec.pipelines:
        mine = [part for part in parts if part["pipeline"] == pipeline]
        run = {q: docs for part in mine for q, docs in part["run"].items()}
        workers = {str(part["pid"]): part["llm_loads"] for part in mine}
        extra = {**mean_costs([c for part in mine for c in part["costs"]]), "worker_processes": len(workers),
                 "llm_loads_per_worker": max(workers.values(), default=0)}
        results.append(SystemResult(pipeline, per_query(run, qrels), sum(p["seconds"] for p in mine), run, extra))
    provenance = {p: pipeline_provenance(p, collection, spec.rerank_options) for p in spec.pipelines}
    context = {"dataset": spec.dataset, "split": spec.split, "queries": len(qids), "top_k": spec.top_k,
               "candidates": spec.candidates, "rerank_options": spec.rerank_options,
               "identical_ids": "kept" if spec.keep_identical_ids else
               "ignored (BEIR convention: a retrieved document whose id is the query id is skipped)",
               "collection": collection.name, "code_revision": code_revision(), "provenance": provenance,
               "execution": execution or {}}
    title = f"{Path(spec.dataset).name} ({spec.split}, {len(qids)} queries)"
    payload = write_report(results, spec.baseline_pipeline, out_dir, title, context)
    payload["regressions"] = record_results(spec, results, provenance, out_dir, console)
    payload["report"] = str(out_dir / "report.json")
    return payload


def record_results(spec: EvaluationSpec, results: list[SystemResult], provenance: dict[str, Any],
                   out_dir: Path, console: Console | None) -> dict[str, dict[str, Any]]:
    """Append one row per system to the results store; returns the regressions found, by system."""
    store = ResultsStore()
    rows = store.append([
        ResultRow(kind="retrieval", dataset=str(Path(spec.dataset).resolve()), split=spec.split, system=r.name,
                  config=spec.config(r.name, r.queries), provenance=provenance[r.name], code_revision=code_revision(),
                  n=r.queries, primary_metric=PRIMARY_METRIC,
                  metrics={m: {"mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high} for m, s in r.stats.items()},
                  per_query=r.per_query[PRIMARY_METRIC], report=str(out_dir / f"run.{file_stem(r.name)}.trec"))
        for r in results
    ])
    regressions = {}
    for row in rows:
        found = store.regression(row)
        if found:
            regressions[row.system] = vars(found)
            (console or Console(stderr=True)).print(
                f"[red]regression[/red] {row.system}: {PRIMARY_METRIC} {found.delta:+.4f} against run "
                f"#{found.previous_id} ({found.previous_revision}), paired p = {found.p_value:.3g} "
                f"on {found.shared_queries} queries")
    return regressions
