"""Run an evaluation on this machine: in this process, or spread over N local worker processes.

The work is the engine's (``prepare`` → ``evaluate_chunk`` per chunk → ``merge``); only where the chunks run
differs. Worker processes are spawned (no forked model state), each loads its models once and uses
``cpus // workers`` torch threads, so N workers do not oversubscribe the cores.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.errors import InvalidInputError
from evals.engine import EvaluationSpec, evaluate_chunk, merge, prepare

MAX_WORKERS = 64


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)


def default_out_dir(spec: EvaluationSpec) -> Path:
    return Path("reports") / f"{Path(spec.dataset).name}-{spec.split}-{time.strftime('%Y%m%dT%H%M%S')}"


def _init_worker(threads: int) -> None:
    """A worker process: a share of the cores for torch."""
    import torch

    torch.set_num_threads(threads)


def run_evaluation(spec: EvaluationSpec, workers: int = 1, out_dir: Path | None = None,
                   console: Console | None = None) -> dict[str, Any]:
    """Evaluate ``spec`` here with ``workers`` processes (1: this process); returns the report payload."""
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidInputError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}.")
    console = console or Console(stderr=True, width=180)
    with _progress(console) as progress:
        task = progress.add_task(f"indexing {Path(spec.dataset).name}", total=None)
        chunks = prepare(spec, progress=lambda done, total: progress.update(task, completed=done, total=total))
    began = time.perf_counter()
    parts: list[dict[str, Any]] = []
    with _progress(console) as progress:
        tasks = {p: progress.add_task(f"{p} on {Path(spec.dataset).name}/{spec.split}",
                                      total=sum(len(q) for name, q in chunks if name == p)) for p in spec.pipelines}
        if workers == 1:
            for pipeline, qids in chunks:
                parts.append(evaluate_chunk(spec, pipeline, qids))
                progress.advance(tasks[pipeline], len(qids))
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                     initargs=(threads,)) as pool:
                pending: dict[Future, tuple[str, list[str]]] = {
                    pool.submit(evaluate_chunk, spec, pipeline, qids): (pipeline, qids) for pipeline, qids in chunks
                }
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        pipeline, qids = pending.pop(future)
                        parts.append(future.result())
                        progress.advance(tasks[pipeline], len(qids))
    execution = {"runner": "local", "worker_processes": workers,
                 "wall_seconds": round(time.perf_counter() - began, 3)}
    return merge(spec, parts, out_dir or default_out_dir(spec), console, execution)
