"""The evaluator reproduces published Pyserini numbers from the runs in data/sample (trec_eval conventions)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.beir_loader import read_qrels_tsv
from evals.metrics import evaluate
from evals.trec_files import read_qrels, read_run, write_run
from tests.conftest import SAMPLE_DATA

REFERENCE = json.loads((SAMPLE_DATA / "reference_scores.json").read_text())


@pytest.mark.parametrize("year, key", [("2019", "dl19-passage"), ("2020", "dl20-passage")])
def test_trec_dl_bm25_reproduces_pyserini(year: str, key: str) -> None:
    folder = SAMPLE_DATA / f"trec-dl-{year}"
    run = read_run(folder / "runs" / "bm25.top100.trec.gz")
    qrels = read_qrels(next((folder / "qrels").glob("qrels.dl*-passage.txt.gz")))
    scores = evaluate(run, qrels, rel_level=2)
    assert scores["nDCG@10"] == pytest.approx(REFERENCE["msmarco_v1_passage_dl"]["bm25-default"][key]["nDCG@10"], abs=5e-5)


def test_trec_covid_bm25_with_beir_qrels() -> None:
    folder = SAMPLE_DATA / "trec-covid"
    scores = evaluate(read_run(folder / "runs" / "bm25.top100.trec.gz"), read_qrels_tsv(folder / "qrels" / "test.tsv.gz"))
    assert scores["nDCG@10"] == pytest.approx(REFERENCE["beir"]["bm25-flat"]["trec-covid"]["nDCG@10"], abs=5e-5)


def test_missing_query_counts_as_zero() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    run = {"q1": {"d1": 1.0, "x": 0.5}}
    scores = evaluate(run, qrels)
    assert scores["nDCG@10"] == pytest.approx(0.5)
    assert scores["MRR@10"] == pytest.approx(0.5)


def test_run_roundtrip(tmp_path: Path) -> None:
    run = {"q1": {"a": 2.0, "b": 3.0}, "q2": {"c": 1.0}}
    write_run(run, tmp_path / "run.trec", tag="t")
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert lines[0].split()[:4] == ["q1", "Q0", "b", "1"]
    assert read_run(tmp_path / "run.trec") == run
