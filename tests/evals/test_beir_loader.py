"""BEIR folders load plain or gzipped; malformed input gives a sentence, not a traceback."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from core.errors import InvalidInputError, NotFoundError
from evals.beir_loader import load_beir, read_corpus
from evals.qa_dataset import read_questions
from tests.conftest import SAMPLE_DATA, SCIFACT


def test_scifact_test_split_counts() -> None:
    data = load_beir(SCIFACT, "test")
    assert len(data.queries) == 300
    assert sum(len(v) for v in data.qrels.values()) == 339
    assert sum(1 for _ in data.corpus()) == 5183


def test_train_split_uses_its_queries_file() -> None:
    data = load_beir(SCIFACT, "train")
    assert len(data.queries) > 700


def test_a_qa_folder_evaluates_retrieval_on_its_questions_and_gold_passages() -> None:
    data = load_beir(SAMPLE_DATA / "2wikimultihopqa", "dev500")  # `siftrag eval --split dev500` on 2Wiki
    questions = {q.id: q.question for q in read_questions(SAMPLE_DATA / "2wikimultihopqa")}
    assert len(data.queries) == 500 and data.queries == {q: questions[q] for q in data.qrels}
    assert all(any(grade > 0 for grade in gold.values()) for gold in data.qrels.values())


def test_plain_and_gz_read_the_same(scifact_slice: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with gzip.open(scifact_slice / "corpus.jsonl.gz", "rt") as handle:
        (plain / "corpus.jsonl").write_text(handle.read())
    assert [d.id for d in read_corpus(plain)] == [d.id for d in read_corpus(scifact_slice)]


def test_non_json_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text('{"_id": "1", "text": "ok"}\nnot json\n')
    with pytest.raises(InvalidInputError, match=r"corpus.jsonl:2"):
        list(read_corpus(tmp_path))


def test_missing_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_beir(tmp_path / "absent")
    with pytest.raises(NotFoundError, match="corpus.jsonl"):
        load_beir(tmp_path)
