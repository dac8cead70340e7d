"""Every evaluation's result, appended to ``<data_dir>/results.sqlite``: the best-known table per dataset,
and regressions of a pipeline against its previous run with the same configuration."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.settings import get_settings
from evals.significance import ALPHA, paired_p_value

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    kind TEXT NOT NULL,             -- retrieval | answers | dynamic
    dataset TEXT NOT NULL,
    split TEXT NOT NULL,
    system TEXT NOT NULL,
    config TEXT NOT NULL,           -- JSON: everything besides the system that changes the numbers
    config_key TEXT NOT NULL,
    provenance TEXT NOT NULL,       -- JSON: index versions, model and adapter hashes
    code_revision TEXT NOT NULL,
    n INTEGER NOT NULL,
    primary_metric TEXT NOT NULL,
    metrics TEXT NOT NULL,          -- JSON: {metric: {mean, ci_low, ci_high}}
    per_query TEXT NOT NULL,        -- JSON: {qid: score of the primary metric}
    binary INTEGER NOT NULL,        -- the primary metric is 0/1 per query (EM, accuracy)
    report TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_config ON results (dataset, split, system, config_key, id);
"""


@dataclass
class ResultRow:
    """One system's result in one evaluation."""

    kind: str
    dataset: str
    split: str
    system: str
    config: dict[str, Any]
    provenance: dict[str, Any]
    code_revision: str
    n: int
    primary_metric: str
    metrics: dict[str, dict[str, float]]
    per_query: dict[str, float]
    binary: bool = False
    report: str = ""
    id: int | None = None
    created_at: float = field(default_factory=time.time)

    @property
    def config_key(self) -> str:
        return hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def score(self) -> float:
        return self.metrics[self.primary_metric]["mean"]


@dataclass
class Regression:
    """A significant drop of the primary metric against the previous run with the same configuration."""

    previous_id: int
    previous_revision: str
    delta: float
    p_value: float
    shared_queries: int


def results_path() -> Path:
    return Path(get_settings().data_dir) / "results.sqlite"


class ResultsStore:
    """Append-only results table (SQLite; one short write transaction per evaluation)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or results_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30)
        connection.row_factory = sqlite3.Row
        return connection

    def append(self, rows: list[ResultRow]) -> list[ResultRow]:
        """Store the rows (their ids are set); returns them."""
        with self._connect() as connection:
            for row in rows:
                cursor = connection.execute(
                    "INSERT INTO results (created_at, kind, dataset, split, system, config, config_key, provenance,"
                    " code_revision, n, primary_metric, metrics, per_query, binary, report)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (row.created_at, row.kind, row.dataset, row.split, row.system,
                     json.dumps(row.config, sort_keys=True), row.config_key, json.dumps(row.provenance),
                     row.code_revision, row.n, row.primary_metric, json.dumps(row.metrics),
                     json.dumps(row.per_query), int(row.binary), row.report))
                row.id = cursor.lastrowid
        return rows

    def rows(self, dataset: str | None = None) -> list[ResultRow]:
        """All rows (of datasets whose path or folder name is ``dataset``), oldest first."""
        with self._connect() as connection:
            records = connection.execute("SELECT * FROM results ORDER BY id").fetchall()
        rows = [_row(record) for record in records]
        return [r for r in rows if dataset is None or dataset in (r.dataset, Path(r.dataset).name)]

    def previous(self, row: ResultRow) -> ResultRow | None:
        """The last earlier run of the same system, dataset, split and configuration."""
        with self._connect() as connection:
            record = connection.execute(
                "SELECT * FROM results WHERE dataset = ? AND split = ? AND system = ? AND config_key = ?"
                " AND id < ? ORDER BY id DESC LIMIT 1",
                (row.dataset, row.split, row.system, row.config_key, row.id if row.id is not None else 1 << 62),
            ).fetchone()
        return _row(record) if record else None

    def regression(self, row: ResultRow) -> Regression | None:
        """A drop of the primary metric, significant (paired test on the shared queries, p < 0.05), against
        the previous run of the same configuration; None when there is none or no drop."""
        previous = self.previous(row)
        return regression_between(row, previous) if previous else None


def regression_between(current: ResultRow, previous: ResultRow) -> Regression | None:
    """The drop of ``current`` against ``previous`` when it is significant on their shared queries, else None."""
    shared = sorted(set(current.per_query) & set(previous.per_query))
    if not shared:
        return None
    now = np.array([current.per_query[q] for q in shared])
    before = np.array([previous.per_query[q] for q in shared])
    delta = float(now.mean() - before.mean())
    _, p_value = paired_p_value(now, before, current.binary)
    if delta < 0 and p_value < ALPHA:
        return Regression(previous.id or 0, previous.code_revision, delta, p_value, len(shared))
    return None


def _row(record: sqlite3.Row) -> ResultRow:
    return ResultRow(
        kind=record["kind"], dataset=record["dataset"], split=record["split"], system=record["system"],
        config=json.loads(record["config"]), provenance=json.loads(record["provenance"]),
        code_revision=record["code_revision"], n=record["n"], primary_metric=record["primary_metric"],
        metrics=json.loads(record["metrics"]), per_query=json.loads(record["per_query"]),
        binary=bool(record["binary"]), report=record["report"], id=record["id"], created_at=record["created_at"],
    )
