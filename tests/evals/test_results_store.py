"""The results store: rows appended per evaluation, the best-known table, and regressions flagged only when
a drop is significant on the shared queries."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from evals.results_store import ResultRow, ResultsStore
from evals.results_table import render_results


def _row(system: str, scores: list[float], config: dict | None = None) -> ResultRow:
    per_query = {f"q{i}": s for i, s in enumerate(scores)}
    mean = sum(scores) / len(scores)
    return ResultRow(kind="retrieval", dataset="/data/scifact", split="test", system=system,
                     config=config or {"top_k": 100}, provenance={"indexes": {}}, code_revision="abc",
                     n=len(scores), primary_metric="nDCG@10",
                     metrics={"nDCG@10": {"mean": mean, "ci_low": mean - 0.1, "ci_high": mean + 0.1}},
                     per_query=per_query)


def test_regression_needs_a_significant_drop_against_the_same_configuration(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.sqlite")
    good = [0.9, 0.8, 0.7, 0.9, 0.6, 0.8, 0.9, 0.7, 0.8, 0.9] * 3
    first, = store.append([_row("bm25", good)])
    assert store.regression(first) is None  # nothing before it
    same, = store.append([_row("bm25", good)])
    assert store.previous(same).id == first.id and store.regression(same) is None
    worse, = store.append([_row("bm25", [s - 0.2 + 0.01 * (i % 3) for i, s in enumerate(good)])])
    found = store.regression(worse)
    assert found is not None and found.previous_id == same.id and found.delta < -0.15 and found.p_value < 0.05
    other, = store.append([_row("bm25", [0.1] * 30, config={"top_k": 10})])
    assert store.previous(other) is None  # another configuration is another series
    assert [r.system for r in store.rows("scifact")] == ["bm25"] * 4 and store.rows("nfcorpus") == []


def test_best_known_table_flags_the_regression(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.sqlite")
    store.append([_row("dense", [0.5] * 30), _row("bm25", [0.9, 0.8, 0.7] * 10)])
    store.append([_row("bm25", [0.5, 0.4, 0.35] * 10)])
    console = Console(width=250, record=True)
    for table in render_results(store.rows()):
        console.print(table)
    text = console.export_text()
    bm25_line = next(line for line in text.splitlines() if line.lstrip("│ ").startswith("bm25"))
    assert "0.8000" in bm25_line and "↓" in bm25_line  # best known 0.80, latest run regressed
    assert text.index("bm25") < text.index("dense")  # best first
