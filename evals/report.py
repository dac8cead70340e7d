"""Evaluation reports: a terminal table, report.json, one TREC run per system, and a comparison plot."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evals.trec_files import Run, write_run

METRIC_ORDER = ("nDCG@10", "R@10", "R@100", "MRR@10", "MAP")


@dataclass
class SystemResult:
    """One evaluated system: its metrics, its speed and its run."""

    name: str
    metrics: dict[str, float]
    seconds: float
    queries: int
    run: Run = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ms_per_query(self) -> float:
        return 1000 * self.seconds / max(self.queries, 1)


def render_table(results: list[SystemResult], title: str) -> Table:
    table = Table(title=title)
    table.add_column("system")
    for metric in METRIC_ORDER:
        table.add_column(metric, justify="right")
    table.add_column("ms/query", justify="right")
    table.add_column("fwd/query", justify="right")
    table.add_column("tokens in/out", justify="right")
    for result in results:
        extra = result.extra
        table.add_row(result.name, *(f"{result.metrics[m]:.4f}" for m in METRIC_ORDER),
                      f"{result.ms_per_query:.1f}", f"{extra.get('rerank_forward_passes', 0):g}",
                      f"{extra.get('rerank_prompt_tokens', 0):g}/{extra.get('rerank_generated_tokens', 0):g}")
    return table


def plot_systems(results: list[SystemResult], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(2 + 1.6 * len(METRIC_ORDER), 4))
    width = 0.8 / max(len(results), 1)
    for i, result in enumerate(results):
        xs = [j + i * width for j in range(len(METRIC_ORDER))]
        axis.bar(xs, [result.metrics[m] for m in METRIC_ORDER], width, label=result.name)
    axis.set_xticks([j + width * (len(results) - 1) / 2 for j in range(len(METRIC_ORDER))], METRIC_ORDER)
    axis.set_ylim(0, 1)
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(results: list[SystemResult], out_dir: Path, title: str, context: dict[str, Any],
                 console: Console | None = None) -> Path:
    """Write everything under ``out_dir`` and print the table; returns the report.json path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for result in results:
        write_run(result.run, out_dir / f"run.{result.name.replace('>', '_')}.trec", tag=f"siftrag-{result.name}")
    payload = {
        **context,
        "systems": [
            {**{k: v for k, v in asdict(r).items() if k != "run"}, "ms_per_query": round(r.ms_per_query, 3)}
            for r in results
        ],
    }
    report = out_dir / "report.json"
    report.write_text(json.dumps(payload, indent=2))
    plot_systems(results, out_dir / "comparison.png", title)
    (console or Console()).print(render_table(results, title))
    return report
