"""Evaluation spread over local worker processes: wall-clock of the same evaluation (bm25 and a reranking
pipeline) with 1 process (the baseline, in-process with all cores) and with N spawned workers, in the same run. Checks that the per-query
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
    reports = {}
    for workers in (1, args.workers):
        reports[workers] = run_evaluation(spec, workers, args.out / f"workers-{workers}", console)
        execution, system = reports[workers]["execution"], reports[workers]["systems"][1]
        print(f"{workers} worker(s): {execution['wall_seconds']:.1f} s wall, nDCG@10 {system['metrics']['nDCG@10']:.4f}"
              f" (n={system['queries']}), LLM loads per worker {system['extra']['llm_loads_per_worker']}, "
              f"processes {system['extra']['worker_processes']}", flush=True)
    single, spread = reports[1], reports[args.workers]
    same = all(abs(a["metrics"][m] - b["metrics"][m]) < 1e-9
               for a, b in zip(single["systems"], spread["systems"]) for m in a["metrics"])
    ratio = single["execution"]["wall_seconds"] / spread["execution"]["wall_seconds"]
    print(json.dumps({"pipeline": args.pipeline, "queries": single["queries"], "workers": args.workers,
                      "wall_s_1": single["execution"]["wall_seconds"],
                      f"wall_s_{args.workers}": spread["execution"]["wall_seconds"],
                      "speedup": round(ratio, 3), "identical_metrics": same,
                      "llm_loads_per_worker": spread["systems"][1]["extra"]["llm_loads_per_worker"],
                      "nDCG@10 vs bm25": single["systems"][1]["statistics"]["nDCG@10"]}, indent=2))


if __name__ == "__main__":
    main()
