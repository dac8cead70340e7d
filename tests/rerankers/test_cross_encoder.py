"""Cross-encoder reranker: training with sentence-transformers' trainer on mined negatives (resumable, atomic,
recording what it saw), loading by name, fusion with the first stage, the shipped model, and bad input refused
before training starts."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from haystack import Document

from core.errors import InvalidInputError, NotFoundError
from evals.beir_loader import load_beir
from evals.cross_encoder_training_set import cross_encoder_training_set
from indexes.document_store import indexable_text
from rerankers.cross_encoder_models import cross_encoder_dir, shipped_cross_encoders
from rerankers.registry import make_reranker
from rerankers.training.cross_encoder_trainer import CrossEncoderTraining, train_cross_encoder
from tests.test_cli import siftrag

TINY = {"init": "splade-tiny-bert", "max_length": 96, "batch_size": 8, "learning_rate": 5e-4, "checkpoint_steps": 2}


def test_training_set_pairs_positives_with_mined_negatives_of_the_training_split_only(train_folder: Path) -> None:
    examples, record = cross_encoder_training_set([train_folder], negatives=3, depth=10,
                                                  dense_model="all-minilm-l6-v2")
    train = load_beir(train_folder, "train")
    test_ids = set(load_beir(train_folder, "test").queries)
    assert {e.query_id for e in examples} == {f"{train_folder.name}/{q}" for q in train.queries if q not in test_ids}
    assert record["datasets"][0]["checked_disjoint_from"] == {"test": 2}
    corpus = {d.id: indexable_text(d) for d in train.corpus()}
    for example in examples:
        qid = example.query_id.split("/", 1)[1]
        relevant = {corpus[d] for d, grade in train.qrels[qid].items() if grade > 0}
        assert set(example.positives) == relevant and len(example.negatives) == 3
        assert not set(example.negatives) & relevant


def test_trained_model_publishes_with_its_record_and_reranks_by_name(train_folder: Path, data_dir: Path) -> None:
    examples, record = cross_encoder_training_set([train_folder], negatives=3, depth=10)
    out = data_dir / "models" / "rerankers" / "ce-test"
    steps = []
    trained = train_cross_encoder(CrossEncoderTraining(**TINY, epochs=2), examples, out, record,
                                  lambda step, total, loss: steps.append((step, total)))
    saved = json.loads((out / "training.json").read_text())
    assert saved == trained and saved["kind"] == "cross-encoder" and saved["base_model"] == "splade-tiny-bert"
    assert saved["data"]["query_ids"] == sorted(e.query_id for e in examples)
    assert steps[-1][0] == steps[-1][1] == saved["steps"] > 0
    assert not out.with_name(".ce-test.checkpoints").exists()  # dropped once published
    assert cross_encoder_dir("ce-test") == out.resolve()

    documents = [Document(id=str(i), content=text, score=float(10 - i))
                 for i, text in enumerate(examples[0].negatives + examples[0].positives)]
    alone = make_reranker("cross-encoder", model="ce-test", first_stage_weight=0.0)
    ranked = alone.run(query=examples[0].query, documents=documents, top_k=len(documents))
    assert sorted(d.id for d in ranked["documents"]) == sorted(d.id for d in documents)
    assert [d.score for d in ranked["documents"]] == sorted((d.score for d in ranked["documents"]), reverse=True)
    assert ranked["meta"]["forward_passes"] == 1 and ranked["meta"]["model"] == "ce-test"
    fused = make_reranker("cross-encoder", model="ce-test", first_stage_weight=1.0)
    by_first_stage = fused.run(query=examples[0].query, documents=documents, top_k=3)["documents"]
    assert [d.id for d in by_first_stage] == ["0", "1", "2"]  # weight 1: the first stage's order alone
    assert fused.to_dict()["init_parameters"]["model"] == "ce-test"


def test_interrupted_training_resumes_from_its_checkpoint(train_folder: Path, tmp_path: Path) -> None:
    examples, record = cross_encoder_training_set([train_folder], negatives=3, depth=10)

    class Interrupted(Exception):
        pass

    def crash_at_step_3(step: int, total: int, loss: float) -> None:
        if step == 3:
            raise Interrupted

    out = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        train_cross_encoder(CrossEncoderTraining(**TINY, epochs=2), examples, out, record, crash_at_step_3)
    assert any(out.with_name(".resumed.checkpoints").glob("checkpoint-*")) and not out.exists()
    seen = []
    trained = train_cross_encoder(CrossEncoderTraining(**TINY, epochs=2), examples, out, record,
                                  lambda step, total, loss: seen.append(step))
    assert trained["resumed"] and seen[0] > 1 and math.isfinite(trained["final_loss"] or 0.0)
    assert (out / "training.json").exists()


def test_bad_training_input_fails_before_training(train_folder: Path, tmp_path: Path, data_dir: Path) -> None:
    def cli(*args: str, dataset: Path = train_folder):
        return siftrag("train", "cross-encoder", "--name", "x", "--dataset", str(dataset), "--no-dense-negatives",
                       *args, data_dir=data_dir)

    llm = cli("--init", "smollm2-135m-instruct")
    assert llm.returncode == 2 and "BERT-family encoder" in llm.stderr
    assert cli("--loss", "listnet").returncode == 2
    assert cli("--epochs", "0").returncode == 2
    bad_name = siftrag("train", "cross-encoder", "--name", "../x", "--dataset", str(train_folder), data_dir=data_dir)
    assert bad_name.returncode == 2 and "not a model name" in bad_name.stderr
    missing = cli(dataset=tmp_path / "none")
    assert missing.returncode == 3 and "No dataset folder" in missing.stderr
    leaking = tmp_path / "leaking"
    (leaking / "qrels").mkdir(parents=True)
    for item in ("corpus.jsonl.gz", "queries.jsonl"):
        (leaking / item).symlink_to(train_folder / item)
    train_rows = (train_folder / "qrels" / "train.tsv").read_text()
    (leaking / "qrels" / "test.tsv").write_text((train_folder / "qrels" / "test.tsv").read_text()
                                                + train_rows.splitlines()[1] + "\n")
    (leaking / "qrels" / "train.tsv").write_text(train_rows)
    leak = cli(dataset=leaking)
    assert leak.returncode == 2 and "leaks 1 queries of evaluation split 'test'" in leak.stderr
    with pytest.raises(InvalidInputError, match="judged relevant passage and a mined negative"):
        train_cross_encoder(CrossEncoderTraining(**TINY), [], tmp_path / "none", {})
    with pytest.raises(NotFoundError, match="No cross-encoder 'nope'"):
        make_reranker("cross-encoder", model="nope")
    with pytest.raises(InvalidInputError, match="not a cross-encoder name"):
        make_reranker("cross-encoder", model="/etc")


def test_without_a_trained_cross_encoder_the_method_says_how_to_get_one(tmp_path: Path, monkeypatch) -> None:
    """None ships yet (none measured better than the first stage, docs/rerankers.md): the method refuses with the
    command that trains one, and the API schema does not offer it."""
    from core.errors import ModelUnavailableError
    from core.settings import get_settings
    from rerankers.registry import served_methods

    monkeypatch.setenv("SIFTRAG_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert shipped_cross_encoders() == []
        with pytest.raises(ModelUnavailableError, match="siftrag train cross-encoder"):
            make_reranker("cross-encoder")
        assert "cross-encoder" not in served_methods() and "tilde" in served_methods()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_pipeline_names_its_cross_encoder_while_the_shared_llm_options_are_dropped() -> None:
    from evals.pipelines import pipeline_options

    shared = {"model": "smollm2-135m-instruct", "passage_words": 30}
    assert pipeline_options("bm25>cross-encoder:model=ce-x,first_stage_weight=0.3", shared) == {
        "model": "ce-x", "first_stage_weight": 0.3}
    assert pipeline_options("bm25>cross-encoder", shared) == {}
    assert pipeline_options("bm25>first", shared) == shared
