"""Evaluation spread over local worker processes: wall-clock of the same evaluation (bm25 and a reranking
pipeline) in one process with all cores (torch intra-op threads; the baseline), in one process with one
thread, and over N spawned worker processes (cores // N threads each), in the same run. Checks that the per-query
scores are identical and reports LLM loads per worker (one expected).

    python benchmarks/bench_eval_workers.py [--dataset data/sample/scifact] [--pipeline "bm25>icr"]
        [--candidates 20] [--queries 300] [--workers 2] [--chunk-queries 10]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

import torch
from rich.console import Console

from evals.engine import EvaluationSpec
from evals.runner import run_evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=REPO / "data" / "sample" / "scifact")
    parser.add_argument("--pipeline", default="bm25>icr")
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-queries", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "bench-eval-workers")
    args = parser.parse_args()
    console = Console(stderr=True)
    spec = EvaluationSpec(dataset=str(args.dataset.resolve()), pipelines=["bm25", args.pipeline], candidates=args.candidates,
                          max_queries=args.queries, chunk_queries=args.chunk_queries)
    spread_key = f"{args.workers} worker processes"
    variants = {"1 process, all cores": (1, torch.get_num_threads()), "1 process, 1 thread": (1, 1),
                spread_key: (args.workers, torch.get_num_threads())}
    reports = {}
    for label, (workers, threads) in variants.items():
        torch.set_num_threads(threads)  # the in-process runs; spawned workers take cores // workers each
        reports[label] = run_evaluation(spec, workers, args.out / label.replace(" ", "-").replace(",", ""), console)
        execution, system = reports[label]["execution"], reports[label]["systems"][1]
        print(f"{label}: {execution['wall_seconds']:.1f} s wall, nDCG@10 {system['metrics']['nDCG@10']:.4f} "
              f"(n={system['queries']}), LLM loads per worker {system['extra']['llm_loads_per_worker']}, "
              f"processes {system['extra']['worker_processes']}", flush=True)
    baseline, spread = reports["1 process, all cores"], reports[spread_key]
    same = all(abs(a["metrics"][m] - b["metrics"][m]) < 1e-9
               for report in reports.values() for a, b in zip(baseline["systems"], report["systems"]) for m in a["metrics"])
    wall = {label: report["execution"]["wall_seconds"] for label, report in reports.items()}
    print(json.dumps({"pipeline": args.pipeline, "queries": baseline["queries"], "wall_s": wall,
                      "speedup_vs_1_process_all_cores": round(wall["1 process, all cores"] / wall[spread_key], 3),
                      "speedup_vs_1_process_1_thread": round(wall["1 process, 1 thread"] / wall[spread_key], 3),
                      "identical_metrics": same,
                      "llm_loads_per_worker": spread["systems"][1]["extra"]["llm_loads_per_worker"],
                      "nDCG@10 vs bm25": baseline["systems"][1]["statistics"]["nDCG@10"]}, indent=2))

if __name__ == "__main__":
    main()
