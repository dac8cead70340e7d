"""Shared fixtures: an isolated data dir, a real slice of SciFact, collections built from it."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "data" / "sample"  # in the repository: a clone tests itself
SCIFACT = SAMPLE_DATA / "scifact"
SLICE_QUERIES = 40
SLICE_EXTRA_DOCS = 300
TRAIN_QUERIES = 6

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session gets its own SIFTRAG_DATA_DIR (collections, caches, converted models)."""
    path = tmp_path_factory.mktemp("siftrag-data")
    os.environ["SIFTRAG_DATA_DIR"] = str(path)
    from core.settings import get_settings

    get_settings.cache_clear()
    return path


def _read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def scifact_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BEIR folder: the first 40 SciFact test queries, their relevant abstracts, and 300 others."""
    root = tmp_path_factory.mktemp("scifact-slice")
    (root / "qrels").mkdir()
    with gzip.open(SCIFACT / "qrels" / "test.tsv.gz", "rt") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle][1:]
    qids = list(dict.fromkeys(row[0] for row in rows))[:SLICE_QUERIES]
    kept_rows = [row for row in rows if row[0] in qids]
    relevant = {row[1] for row in kept_rows}
    corpus = _read_jsonl_gz(SCIFACT / "corpus.jsonl.gz")
    docs = [d for d in corpus if d["_id"] in relevant] + [d for d in corpus if d["_id"] not in relevant][:SLICE_EXTRA_DOCS]
    with gzip.open(root / "corpus.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(d) + "\n" for d in docs)
    queries = [q for q in _read_jsonl_gz(SCIFACT / "queries.jsonl.gz") if q["_id"] in qids]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join("\t".join(row) + "\n" for row in kept_rows)
    )
    return root


@pytest.fixture(scope="session")
def built_slice(scifact_slice: Path, data_dir: Path):
    """The slice as a collection with live bm25 and dense indexes."""
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.retriever import collection_manager

    return ensure_dataset_collection(collection_manager(), scifact_slice, ["bm25", "dense"], name="slice")


@pytest.fixture(scope="session")
def tilde_scorer(scifact_slice: Path, data_dir: Path) -> Path:
    """A TILDEv2 scorer really trained (one short epoch, no expansion) on the slice, as the default scorer."""
    from core.model_registry import resolve_model
    from evals.beir_loader import load_beir
    from indexes.document_store import indexable_text
    from indexes.tilde.scorer_store import scorer_dir
    from indexes.tilde.training import TrainingConfig, train_scorer
    from indexes.tilde.training_examples import training_examples

    data = load_beir(scifact_slice)
    corpus = {d.id: indexable_text(d) for d in data.corpus()}
    examples = training_examples(corpus, data.queries, data.qrels, None, 0, negatives_depth=10)
    config = TrainingConfig(encoder=str(resolve_model("splade-tiny-bert").local_path),
                            out=scorer_dir("tilde-scifact"), epochs=2, batch_queries=8, max_length=256)
    return train_scorer(config, examples)


def _qrels(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt") as handle:
        return [line.rstrip("\n").split("\t") for line in handle][1:]


@pytest.fixture(scope="session")
def train_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BEIR folder: six SciFact *train* queries and two test queries, their abstracts, and 60 others."""
    root = tmp_path_factory.mktemp("scifact-train")
    (root / "qrels").mkdir()
    train_rows, test_rows = _qrels(SCIFACT / "qrels" / "train.tsv.gz"), _qrels(SCIFACT / "qrels" / "test.tsv.gz")
    train_ids = list(dict.fromkeys(r[0] for r in train_rows))[:TRAIN_QUERIES]
    test_ids = list(dict.fromkeys(r[0] for r in test_rows))[:2]
    train_rows = [r for r in train_rows if r[0] in train_ids]
    test_rows = [r for r in test_rows if r[0] in test_ids]
    relevant = {r[1] for r in train_rows + test_rows}
    corpus = _read_jsonl_gz(SCIFACT / "corpus.jsonl.gz")
    docs = [d for d in corpus if d["_id"] in relevant] + [d for d in corpus if d["_id"] not in relevant][:60]
    with gzip.open(root / "corpus.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(d) + "\n" for d in docs)
    queries = {q["_id"]: q for name in ("queries.jsonl.gz", "queries.train.jsonl.gz")
               for q in _read_jsonl_gz(SCIFACT / name)}
    (root / "queries.jsonl").write_text("".join(json.dumps(queries[q]) + "\n" for q in train_ids + test_ids))
    for split, rows in (("train", train_rows), ("test", test_rows)):
        (root / "qrels" / f"{split}.tsv").write_text(
            "query-id\tcorpus-id\tscore\n" + "".join("\t".join(r) + "\n" for r in rows))
    return root


def pytest_sessionfinish() -> None:
    """Give back this run's Redis database (``tests/redis_db.py``) if it claimed one."""
    from tests.redis_db import release_run_redis

    release_run_redis()


@pytest.fixture(scope="session")
def cross_encoder_model(train_folder: Path, data_dir: Path) -> str:
    """A cross-encoder really trained (2-layer SPLADE-tiny BERT, a few steps) on the training folder, published into
    the data dir as ``ce-fixture`` (none ships)."""
    from evals.cross_encoder_training_set import cross_encoder_training_set
    from rerankers.training.cross_encoder_trainer import CrossEncoderTraining, train_cross_encoder

    examples, record = cross_encoder_training_set([train_folder], negatives=3, depth=10)
    config = CrossEncoderTraining(init="splade-tiny-bert", max_length=96, batch_size=8, learning_rate=5e-4)
    train_cross_encoder(config, examples, data_dir / "models" / "rerankers" / "ce-fixture", record)
    return "ce-fixture"
