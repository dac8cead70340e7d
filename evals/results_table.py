"""``siftrag results``: the best-known result of every system and configuration, per dataset and split."""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from rich.table import Table

from evals.results_store import ResultRow, regression_between


def _config_text(config: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in config.items() if v not in ({}, None, ""))


def render_results(rows: list[ResultRow]) -> list[Table]:
    """One table per (dataset, split, kind): per system and configuration the best run (primary metric with
    its 95% CI), the latest run, and a regression flag when the latest run is significantly worse than the
    run before it (paired test on the shared queries, p < 0.05). Largest query sets first, then best first.
    ``rows`` must hold every run of a dataset, oldest first (``ResultsStore.rows``)."""
    groups: dict[tuple[str, str, str], dict[tuple[str, str], list[ResultRow]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[(row.dataset, row.split, row.kind)][(row.system, row.config_key)].append(row)
    tables = []
    for (dataset, split, kind), systems in groups.items():
        metric = next(iter(systems.values()))[0].primary_metric
        table = Table(title=f"{Path(dataset).name} ({split}, {kind}) — best known {metric}")
        for column in ("system", f"best {metric}", "95% CI", "n", "revision", "when", "runs", f"latest {metric}",
                       "regression", "configuration"):
            table.add_column(column, justify="left" if column in ("system", "configuration", "regression") else "right")
        ordered = sorted(systems.values(), key=lambda runs: (-runs[-1].n, -max(r.score for r in runs)))
        for runs in ordered:
            best = max(runs, key=lambda r: r.score)
            latest = runs[-1]
            found = regression_between(latest, runs[-2]) if len(runs) > 1 else None
            flag = (f"[red]↓ {found.delta:+.4f} (p={found.p_value:.3g}) vs #{found.previous_id}[/red]"
                    if found else "")
            ci = best.metrics[best.primary_metric]
            table.add_row(best.system, f"{best.score:.4f}", f"{ci['ci_low']:.3f}–{ci['ci_high']:.3f}", str(best.n),
                          best.code_revision, time.strftime("%Y-%m-%d %H:%M", time.localtime(best.created_at)),
                          str(len(runs)), f"{latest.score:.4f}", flag, _config_text(best.config))
        tables.append(table)
    return tables
