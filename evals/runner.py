"""Batch evaluation of named pipelines over a BEIR dataset, with a progress bar."""
from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from evals.beir_loader import load_beir
from evals.dataset_collection import ensure_dataset_collection
from evals.metrics import evaluate
from evals.pipelines import batch_search, check_pipeline_options, required_kinds
from evals.report import SystemResult, write_report
from indexes.retriever import collection_manager

QUERY_BATCH = 16


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)


def mean_costs(costs: list[dict]) -> dict[str, float]:
    """Per-query means of a reranker's reported cost (latency, forward passes, tokens)."""
    keys = ("latency_ms", "forward_passes", "prompt_tokens", "generated_tokens")
    return {f"rerank_{k}": round(sum(c.get(k, 0) for c in costs) / len(costs), 2) for k in keys} if costs else {}


def run_evaluation(dataset: Path, pipelines: list[str], split: str = "test", top_k: int = 100,
                   out_dir: Path | None = None, max_queries: int | None = None,
                   console: Console | None = None, candidates: int = 100,
                   rerank_options: dict | None = None) -> tuple[list[SystemResult], Path]:
    """Evaluate each pipeline on ``dataset``; write the report; return results and report path.

    Reranking pipelines (``bm25>icr``) rerank the first ``candidates`` documents of their retriever.
    """
    console = console or Console(stderr=True, width=160)
    kinds = sorted({kind for pipeline in pipelines for kind in required_kinds(pipeline)})
    for pipeline in pipelines:
        check_pipeline_options(pipeline, rerank_options or {})
    data = load_beir(dataset, split)
    qids = sorted(data.queries)[:max_queries] if max_queries else sorted(data.queries)
    manager = collection_manager()
    with _progress(console) as progress:
        task = progress.add_task(f"indexing {dataset.name} ({', '.join(kinds)})", total=None)
        collection = ensure_dataset_collection(
            manager, dataset, kinds, progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    results = []
    qrels = {qid: data.qrels[qid] for qid in qids}
    for pipeline in pipelines:
        search = batch_search(pipeline, collection.name, candidates, rerank_options)
        run: dict[str, dict[str, float]] = {}
        seconds = 0.0
        with _progress(console) as progress:
            task = progress.add_task(f"{pipeline} on {dataset.name}/{split}", total=len(qids))
            for start in range(0, len(qids), QUERY_BATCH):
                batch = qids[start:start + QUERY_BATCH]
                began = time.perf_counter()
                ranked = search([data.queries[q] for q in batch], top_k)
                seconds += time.perf_counter() - began
                for qid, documents in zip(batch, ranked):
                    run[qid] = {d.id: float(d.score or 0.0) for d in documents}
                progress.advance(task, len(batch))
        results.append(SystemResult(pipeline, evaluate(run, qrels), seconds, len(qids), run, mean_costs(search.costs)))
    out_dir = out_dir or Path("reports") / f"{dataset.name}-{split}-{time.strftime('%Y%m%dT%H%M%S')}"
    context = {"dataset": str(dataset), "split": split, "queries": len(qids), "top_k": top_k,
               "collection": collection.name, "candidates": candidates, "rerank_options": rerank_options or {}}
    report = write_report(results, out_dir, f"{dataset.name} ({split}, {len(qids)} queries)", context, console)
    return results, report
