"""Evaluation reports: report.json, one TREC run and the per-query scores per system, a plot, a terminal table.

Every system carries, per metric, its mean with a 95% bootstrap CI and — against the baseline — Δ, the paired
t-test p-value, its Holm-corrected value (over all compared systems) and wins/ties/losses per query.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from evals.significance import MetricStats, compare_systems
from evals.trec_files import Run, write_run

METRIC_ORDER = ("nDCG@10", "R@10", "R@100", "MRR@10", "MAP")
PRIMARY_METRIC = "nDCG@10"


@dataclass
class SystemResult:
    """One evaluated system: per-query scores, their means, its speed, its run and its reranking cost."""

    name: str
    per_query: dict[str, dict[str, float]]  # metric → qid → score
    seconds: float
    run: Run = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, MetricStats] = field(default_factory=dict)

    @property
    def queries(self) -> int:
        return len(self.per_query[PRIMARY_METRIC])

    @property
    def metrics(self) -> dict[str, float]:
        return {name: sum(v.values()) / max(len(v), 1) for name, v in self.per_query.items()}

    @property
    def ms_per_query(self) -> float:
        return 1000 * self.seconds / max(self.queries, 1)


def add_statistics(results: list[SystemResult], baseline: str) -> None:
    """Fill each result's ``stats`` (CI, and the paired comparison against ``baseline``)."""
    compared = compare_systems({r.name: {m: r.per_query[m] for m in METRIC_ORDER} for r in results}, baseline)
    for result in results:
        result.stats = compared[result.name]


def file_stem(name: str) -> str:
    """A file name for a system: ">" and anything outside letters, digits and ``._+=,-`` become "_"."""
    return re.sub(r"[^A-Za-z0-9._+=,-]", "_", name)


def write_per_query(results: list[SystemResult], path: Path) -> None:
    """``system qid metric…`` rows, tab separated (one line per system and judged query)."""
    lines = ["\t".join(("system", "qid", *METRIC_ORDER))]
    for result in results:
        for qid in sorted(result.per_query[PRIMARY_METRIC]):
            lines.append("\t".join((result.name, qid, *(f"{result.per_query[m][qid]:.6f}" for m in METRIC_ORDER))))
    path.write_text("\n".join(lines) + "\n")


def report_payload(results: list[SystemResult], context: dict[str, Any]) -> dict[str, Any]:
    return {
        **context,
        "systems": [
            {"name": r.name, "metrics": {m: round(v, 6) for m, v in r.metrics.items()}, "queries": r.queries,
             "seconds": round(r.seconds, 3), "ms_per_query": round(r.ms_per_query, 3), "extra": r.extra,
             "statistics": {m: s.as_dict() for m, s in r.stats.items()}}
            for r in results
        ],
    }


def plot_report(results: list[SystemResult], baseline: str, path: Path, title: str) -> None:
    """Left: each metric per system with its 95% CI. Right: per-query Δ nDCG@10 against the baseline, sorted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (bars, deltas) = plt.subplots(1, 2, figsize=(4 + 3.2 * len(METRIC_ORDER) / 2 + 5, 4.5),
                                          gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / max(len(results), 1)
    for i, result in enumerate(results):
        xs = [j + i * width for j in range(len(METRIC_ORDER))]
        means = [result.stats[m].mean for m in METRIC_ORDER]
        errors = [[result.stats[m].mean - result.stats[m].ci_low for m in METRIC_ORDER],
                  [result.stats[m].ci_high - result.stats[m].mean for m in METRIC_ORDER]]
        bars.bar(xs, means, width, yerr=errors, capsize=2, label=result.name)
    bars.set_xticks([j + width * (len(results) - 1) / 2 for j in range(len(METRIC_ORDER))], METRIC_ORDER)
    bars.set_ylim(0, 1)
    bars.set_title(f"{title} (95% CI)")
    bars.legend(fontsize="small")
    base = next(r for r in results if r.name == baseline).per_query[PRIMARY_METRIC]
    for result in results:
        if result.name == baseline:
            continue
        ordered = sorted(result.per_query[PRIMARY_METRIC][q] - base[q] for q in base)
        deltas.plot(range(len(ordered)), ordered, drawstyle="steps-mid", label=result.name)
    deltas.axhline(0, color="grey", linewidth=0.8)
    deltas.set_xlabel("queries, sorted by Δ")
    deltas.set_ylabel(f"Δ {PRIMARY_METRIC} vs {baseline}")
    deltas.set_title("per-query difference")
    if len(results) > 1:
        deltas.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(results: list[SystemResult], baseline: str, out_dir: Path, title: str,
                 context: dict[str, Any]) -> dict[str, Any]:
    """Statistics, then runs, per_query.tsv, report.json and comparison.png under ``out_dir``; returns the
    payload written to report.json (``render_table`` shows it)."""
    add_statistics(results, baseline)
    out_dir.mkdir(parents=True, exist_ok=True)
    for result in results:
        write_run(result.run, out_dir / f"run.{file_stem(result.name)}.trec", tag=f"siftrag-{result.name}")
    write_per_query(results, out_dir / "per_query.tsv")
    payload = report_payload(results, {**context, "title": title, "baseline": baseline})
    (out_dir / "report.json").write_text(json.dumps(payload, indent=2))
    plot_report(results, baseline, out_dir / "comparison.png", title)
    return payload


def _with_ci(stats: dict[str, Any], prefix: str = "", sign: str = "") -> str:
    low, high = stats[f"{prefix}ci_low"], stats[f"{prefix}ci_high"]
    return f"{stats[prefix.rstrip('_') or 'mean']:{sign}.4f} ({low:{sign}.3f}, {high:{sign}.3f})"


def render_table(payload: dict[str, Any]) -> Table:
    """The report as a table: nDCG@10 with its 95% CI, Δ against the baseline with its CI, the paired t-test
    p (Holm-corrected), wins/ties/losses, the other metrics (``*``: Holm-corrected p < 0.05), then cost."""
    baseline = payload["baseline"]
    table = Table(title=f"{payload['title']} — baseline {baseline}",
                  caption="(…): 95% bootstrap CI; p: paired t-test (Holm-corrected over the systems); "
                          "W/T/L: per-query wins/ties/losses; *: Holm-corrected p < 0.05 against the baseline")
    for column in ("system", "nDCG@10", "Δ nDCG@10", "p (Holm)", "W/T/L", *METRIC_ORDER[1:],
                   "ms/q", "fwd/q", "tok in/out"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for system in payload["systems"]:
        statistics = system["statistics"]
        primary = statistics[PRIMARY_METRIC]
        extra = system["extra"]
        if system["name"] == baseline:
            comparison = ["baseline", "", ""]
        else:
            comparison = [_with_ci(primary, "delta_", "+"),
                          f"{primary['p_value']:.2g} ({primary['p_holm']:.2g}){'*' if primary['significant'] else ''}",
                          f"{primary['wins']}/{primary['ties']}/{primary['losses']}"]
        table.add_row(system["name"], _with_ci(primary), *comparison,
                      *(f"{statistics[m]['mean']:.4f}{'*' if statistics[m].get('significant') else ''}"
                        for m in METRIC_ORDER[1:]),
                      f"{system['ms_per_query']:.1f}", f"{extra.get('rerank_forward_passes', 0):g}",
                      f"{extra.get('rerank_prompt_tokens', 0):g}/{extra.get('rerank_generated_tokens', 0):g}")
    return table
