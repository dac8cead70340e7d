"""Per-question comparison of answer systems (answer variants, dynamic-retrieval policies) against a baseline.

EM and yes/no accuracy are 0/1 per question: exact McNemar; F1 is graded: paired t-test; Holm over the
systems; 95% bootstrap CIs; wins/ties/losses. Every system is also recorded in the results store.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import InvalidInputError
from core.settings import get_settings
from evals.provenance import code_revision, model_fingerprint
from evals.results_store import ResultRow, ResultsStore
from evals.significance import MetricStats, compare_systems

BINARY_METRICS = ("EM",)


def check_baseline(baseline: str | None, systems: list[str]) -> str:
    """The baseline (default: the first system); InvalidInputError when it is not evaluated."""
    chosen = baseline or systems[0]
    if chosen not in systems:
        raise InvalidInputError(f"Baseline '{chosen}' is not one of the evaluated systems ({', '.join(systems)}).")
    return chosen


def compare_and_record(kind: str, dataset: Path, rows: dict[str, list[dict[str, Any]]], baseline: str,
                       summaries: dict[str, dict[str, Any]], config: dict[str, Any], primary: str,
                       out_dir: Path) -> dict[str, dict[str, MetricStats]]:
    """Compare the systems, add each one's ``statistics`` to its summary, write per_question.tsv and record
    every system in the results store; returns the statistics (the caller then writes report.json)."""
    compared = compare_answers(rows, baseline)
    for name, summary in summaries.items():
        summary["statistics"] = {metric: entry.as_dict() for metric, entry in compared[name].items()}
    write_per_question(rows, out_dir / "per_question.tsv")
    record_answers(kind, dataset, rows, compared, config, primary, out_dir / "report.json")
    return compared


def compare_answers(rows: dict[str, list[dict[str, Any]]], baseline: str) -> dict[str, dict[str, MetricStats]]:
    """``rows[system]`` = prediction rows with ``id``, ``em``, ``f1`` → statistics per system and metric."""
    scores = {name: {"EM": {r["id"]: float(r["em"]) for r in items}, "F1": {r["id"]: float(r["f1"]) for r in items}}
              for name, items in rows.items()}
    return compare_systems(scores, baseline, BINARY_METRICS)


def write_per_question(rows: dict[str, list[dict[str, Any]]], path: Path) -> None:
    lines = ["system\tid\tEM\tF1"] + [f"{name}\t{r['id']}\t{float(r['em']):g}\t{float(r['f1']):.4f}"
                                      for name, items in rows.items() for r in items]
    path.write_text("\n".join(lines) + "\n")


def comparison_cells(entry: MetricStats) -> str:
    """``0.420 (0.36, 0.48)`` or, against the baseline, ``+0.030 p=0.04*``."""
    if entry.delta is None:
        return f"{entry.mean:.3f} ({entry.ci_low:.2f}, {entry.ci_high:.2f})"
    star = "*" if entry.significant else ""
    return (f"{entry.mean:.3f} ({entry.ci_low:.2f}, {entry.ci_high:.2f}) {entry.delta:+.3f} "
            f"p={entry.p_holm:.2g}{star} {entry.wins}/{entry.ties}/{entry.losses}")


def record_answers(kind: str, dataset: Path, rows: dict[str, list[dict[str, Any]]],
                   statistics: dict[str, dict[str, MetricStats]], config: dict[str, Any], primary: str,
                   report: Path) -> None:
    """One results-store row per system (primary metric: ``EM`` for yes/no accuracy, else ``F1``)."""
    provenance = {"model": model_fingerprint(config.get("model") or get_settings().llm_model)}
    ResultsStore().append([
        ResultRow(kind=kind, dataset=str(dataset.resolve()), split="questions", system=name,
                  config={**config, "questions": len(items)}, provenance=provenance, code_revision=code_revision(),
                  n=len(items), primary_metric=primary,
                  metrics={m: {"mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high}
                           for m, s in statistics[name].items()},
                  per_query={r["id"]: float(r["em" if primary == "EM" else "f1"]) for r in items},
                  binary=primary in BINARY_METRICS, report=str(report))
        for name, items in rows.items()
    ])
