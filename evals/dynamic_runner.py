"""Dynamic-retrieval evaluation: EM / token F1 (yes/no accuracy on StrategyQA), retrieval and LM calls per
question, and latency, for each method (none, single, fixed-length, fixed-sentence, flare, dragin, dyprag,
dyprag-combine)."""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from core.errors import InvalidInputError
from evals.dataset_collection import ensure_dataset_collection
from evals.qa_comparison import check_baseline, compare_and_record, comparison_cells
from evals.qa_dataset import read_questions
from evals.qa_metrics import exact_match, token_f1
from evals.significance import MetricStats
from indexes.retriever import collection_manager
from rag.answer_formats import normalize_answer
from rag.dynamic.methods import PARAMETRIC, make_dynamic_answerer
from rag.retrieval import index_kinds_of

console = Console(stderr=True, width=None if sys.stderr.isatty() else 180)  # tables stay whole in logs


def yes_no(prediction: str) -> str:
    """StrategyQA: the first yes/no word of the text ("" when there is none). Scored on the final answer,
    else on the whole output (the model often opens with "No, …" and never writes "the answer is")."""
    return next((w for w in normalize_answer(prediction).split() if w in ("yes", "no")), "")


def run_dynamic_evaluation(dataset: Path, policies: list[str], limit: int | None, out_dir: Path,
                           retriever: str = "bm25", model: str | None = None, max_new_tokens: int = 96,
                           options: dict[str, Any] | None = None, translator: str | None = None,
                           skip: int = 0, baseline: str | None = None) -> dict[str, Any]:
    """Every policy on ``limit`` questions after the first ``skip`` (file order); writes report.json (updated
    after each policy), the predictions per policy and per_question.tsv; compares every policy with
    ``baseline`` (default: the first) per question."""
    baseline = check_baseline(baseline, list(dict.fromkeys(policies)))
    questions = read_questions(dataset, None if limit is None else skip + limit)[skip:]
    if not questions:
        raise InvalidInputError(f"No questions left in {dataset} after skipping {skip}.")
    boolean = all(item.answers[0] in ("yes", "no") for item in questions)
    answer_format = "yes-no" if boolean else "short"
    answerers = {p: make_dynamic_answerer("", p, retriever, model=model, max_new_tokens=max_new_tokens,
                                          translator=translator if p in PARAMETRIC else None,
                                          answer_format=answer_format, **(options or {}))
                 for p in policies}  # validates every method and option (and loads the translator) before indexing
    collection = ensure_dataset_collection(collection_manager(), dataset, index_kinds_of(retriever))
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"dataset": str(dataset), "questions": len(questions), "skipped": skip,
                              "retriever": retriever,
                              "metric": "accuracy" if boolean else "EM/F1", "answer_format": answer_format,
                              "baseline": baseline, "policies": {}}
    all_rows: dict[str, list[dict[str, Any]]] = {}
    with Progress(console=console) as progress:
        for policy, answerer in answerers.items():
            answerer.use_collection(collection.name)
            task = progress.add_task(policy, total=len(questions))
            rows = []
            for item in questions:
                result = answerer.run(item.question).as_dict()
                prediction = (yes_no(result["answer"]) or yes_no(result["output"])) if boolean else result["answer"]
                rows.append({"id": item.id, "answers": list(item.answers), "prediction": prediction,
                             "em": exact_match(prediction, item.answers),
                             "f1": token_f1(prediction, item.answers), **result})
                progress.advance(task)
            all_rows[policy] = rows
            report["policies"][policy] = {
                "EM": _mean(r["em"] for r in rows), "F1": _mean(r["f1"] for r in rows),
                "retrieval_calls": _mean(r["retrieval_calls"] for r in rows),
                "lm_calls": _mean(r["lm_calls"] for r in rows),
                "latency_ms_p50": round(statistics.median(r["latency_ms"] for r in rows), 1),
                "generated_tokens": _mean(r["generated_tokens"] for r in rows),
                **({"without_yes_no": _mean(not r["prediction"] for r in rows)} if boolean else {}),
            }
            with (out_dir / f"predictions-{policy}.jsonl").open("w") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in rows)
            (out_dir / "report.json").write_text(json.dumps(report, indent=2))  # after each policy: long runs
    compared = compare_and_record("dynamic", dataset, all_rows, baseline, report["policies"],
                                  {"retriever": retriever, "model": model, "max_new_tokens": max_new_tokens,
                                   "skip": skip, "options": options or {}, "translator": translator},
                                  "EM" if boolean else "F1", out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    console.print(render(report, compared))
    return report


def _mean(values: Any) -> float:
    return round(statistics.fmean(list(values)), 4)


def render(report: dict[str, Any], compared: dict[str, dict[str, MetricStats]]) -> Table:
    table = Table(title=f"{report['dataset']} — {report['questions']} questions ({report['metric']}), "
                        f"baseline {report['baseline']}",
                  caption="(…): 95% bootstrap CI; then Δ, Holm-corrected p (EM/accuracy: exact McNemar, F1: paired "
                          "t-test; *: p < 0.05) and wins/ties/losses against the baseline")
    for column in ("policy", "EM/acc", "F1", "retrievals/q", "LM calls/q", "p50 ms"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name, s in report["policies"].items():
        table.add_row(name, comparison_cells(compared[name]["EM"]), comparison_cells(compared[name]["F1"]),
                      f"{s['retrieval_calls']:.2f}", f"{s['lm_calls']:.2f}", f"{s['latency_ms_p50']:.0f}")
    return table
