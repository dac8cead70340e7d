"""Batch evaluation of named pipelines over a BEIR dataset, with a progress bar."""
from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from evals.beir_loader import load_beir
from evals.dataset_collection import ensure_dataset_collection
from evals.metrics import evaluate
from evals.pipelines import batch_search, required_kinds
from evals.report import SystemResult, write_report
from indexes.retriever import collection_manager

QUERY_BATCH = 16


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)


def run_evaluation(dataset: Path, pipelines: list[str], split: str = "test", top_k: int = 100,
                   out_dir: Path | None = None, max_queries: int | None = None,
                   console: Console | None = None) -> tuple[list[SystemResult], Path]:
    """Evaluate each pipeline on ``dataset``; write the report; return results and report path."""
    console = console or Console(stderr=True)
    kinds = sorted({kind for pipeline in pipelines for kind in required_kinds(pipeline)})
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
        search = batch_search(pipeline, collection.name)
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
        results.append(SystemResult(pipeline, evaluate(run, qrels), seconds, len(qids), run))
    out_dir = out_dir or Path("reports") / f"{dataset.name}-{split}-{time.strftime('%Y%m%dT%H%M%S')}"
    context = {"dataset": str(dataset), "split": split, "queries": len(qids), "top_k": top_k,
               "collection": collection.name}
    report = write_report(results, out_dir, f"{dataset.name} ({split}, {len(qids)} queries)", context, console)
    return results, report
