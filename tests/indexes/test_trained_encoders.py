"""Fine-tuned sentence encoders (`siftrag train embedder`): trained as a job on judged positives and mined
negatives, published atomically with their record (fp16 on disk, fp32 when loaded), served by name by the dense
index and the embedding reranker, and bad input refused before training starts."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from haystack import Document

from core.errors import InvalidInputError
from core.model_registry import resolve_model
from evals.encoder_training_set import encoder_triples
from indexes.encoder import get_encoder
from rerankers.registry import make_reranker
from rerankers.training.examples import PairedExample
from tests.test_cli import siftrag

SCIFACT = Path(__file__).resolve().parents[2] / "data" / "sample" / "scifact"
SMALL = ("--batch-size", "4", "--max-length", "64", "--no-dense-negatives")


def test_trained_encoder_publishes_its_record_and_serves_by_name(train_folder: Path, data_dir: Path,
                                                                  tmp_path: Path) -> None:
    second = tmp_path / "second-source"  # pooled with the first: batches are drawn one source at a time
    shutil.copytree(train_folder, second)
    result = siftrag("train", "embedder", "--name", "enc-test", "--dataset", str(train_folder), "--dataset",
                     str(second), *SMALL, "--learning-rate", "1e-4", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    folder = data_dir / "models" / "encoders" / "enc-test"
    record = json.loads((folder / "training.json").read_text())
    assert record["kind"] == "encoder" and record["base_model"] == "all-minilm-l6-v2"
    assert record["stored_dtype"] == "float16" and record["steps"] > 0
    assert record["triples"][train_folder.name] == record["triples"]["second-source"] >= 6
    assert "MultiDatasetBatchSamplers.PROPORTIONAL" in record["library"]
    assert record["data"]["query_ids"] and {q.split("/")[0] for q in record["data"]["query_ids"]} == {
        train_folder.name, "second-source"}
    assert record["data"]["datasets"][0]["checked_disjoint_from"] == {"test": 2}
    assert not list(folder.parent.glob(".enc-test.work-*"))  # the work folder and its checkpoints are gone
    weights = sum(p.stat().st_size for p in folder.rglob("*.safetensors"))
    base_weights = sum(p.stat().st_size for p in resolve_model("all-minilm-l6-v2").local_path.rglob("*.safetensors"))
    assert weights < 0.6 * base_weights  # stored in half precision

    assert resolve_model("enc-test").local_path == folder.resolve()
    encoder = get_encoder("enc-test")
    assert str(next(encoder.model.parameters()).dtype) == "torch.float32"
    texts = ["Vitamin D deficiency raises the risk of fractures.", "The Eiffel Tower is in Paris."]
    tuned, base = encoder.encode(texts), get_encoder("all-minilm-l6-v2").encode(texts)
    assert np.allclose(np.linalg.norm(tuned, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(tuned, base, atol=1e-3)  # training moved the weights

    reranker = make_reranker("embedding", model="enc-test", first_stage_weight=0.0)
    documents = [Document(id=str(i), content=text, score=1.0) for i, text in enumerate(texts)]
    ranked = reranker.run(query="Does vitamin D protect bones?", documents=documents, top_k=2)
    assert [d.id for d in ranked["documents"]] == ["0", "1"] and ranked["meta"]["model"] == "enc-test"


def test_triples_give_every_positive_a_negative_of_its_query() -> None:
    examples = [PairedExample("a/1", "q1", ["p1", "p2", "p3"], ["n1", "n2"]),
                PairedExample("a/2", "q2", ["p4"], []),  # no negative mined: dropped
                PairedExample("a/3", "q3", ["p5"], ["n3"])]
    examples.append(PairedExample("b/1", "q6", ["p6"], ["n6"]))
    by_dataset = encoder_triples(examples, seed=13)
    triples = by_dataset["a"]
    assert [t[:2] for t in triples] == [("q1", "p1"), ("q1", "p2"), ("q1", "p3"), ("q3", "p5")]
    assert {t[2] for t in triples[:2]} == {"n1", "n2"} and triples[3][2] == "n3"
    assert by_dataset["b"] == [("q6", "p6", "n6")] and encoder_triples(examples, seed=13) == by_dataset
    with pytest.raises(InvalidInputError, match="judged relevant passage and a mined negative"):
        encoder_triples(examples[1:2], seed=13)


def test_bad_training_input_fails_before_training(train_folder: Path, tmp_path: Path, data_dir: Path) -> None:
    def cli(*args: str, name: str = "x", dataset: Path = train_folder):
        return siftrag("train", "embedder", "--name", name, "--dataset", str(dataset), "--no-dense-negatives",
                       *args, data_dir=data_dir)

    llm = cli("--base", "smollm2-135m-instruct")
    assert llm.returncode == 2 and "not a sentence encoder of the registry" in llm.stderr
    assert cli("--epochs", "0").returncode == 2
    assert cli("--batch-size", "1").returncode == 2
    for name in ("../x", "all-minilm-l6-v2"):
        refused = cli(name=name)
        assert refused.returncode == 2 and "not a new encoder name" in refused.stderr
    missing = cli(dataset=tmp_path / "none")
    assert missing.returncode == 3 and "No dataset folder" in missing.stderr
    assert not (data_dir / "models" / "encoders" / "x").exists()


def test_a_model_meant_to_ship_leaves_the_calibration_queries_unseen() -> None:
    """SciFact train queries no shipped model trained on are what relevance calibrations fit and measure on; a
    training run with ``--leave-out-calibration`` drops exactly those, and records how many."""
    from evals.reranker_training_set import training_split
    from evals.score_calibration import (
        calibration_queries,
        seen_by_shipped_models,
        without_calibration_queries,
    )

    judged = training_split(SCIFACT, "train")[2]
    seen = seen_by_shipped_models("scifact")
    reserved = calibration_queries("scifact", judged)
    assert seen and reserved and not set(reserved) & seen and set(reserved) | seen >= set(judged)
    examples = [PairedExample(f"scifact/{q}", "q", ["p"], ["n"]) for q in sorted(judged)]
    other = PairedExample(f"strategyqa/{reserved[0]}", "q", ["p"], ["n"])  # another dataset: never reserved
    kept, record = without_calibration_queries([*examples, other])
    assert {e.query_id for e in kept} == {f"scifact/{q}" for q in set(judged) - set(reserved)} | {other.query_id}
    assert record["left_out_for_calibration"] == len(reserved)


def test_requests_may_name_a_trained_encoder_but_no_path() -> None:
    from api.model_names import EMBEDDER

    EMBEDDER.check("all-minilm-l6-v2", "embedding_model")
    for name in ("/etc", "../encoders/x", "no-such-encoder", "smollm2-135m-instruct"):
        with pytest.raises(ValueError, match="trained encoder's name"):
            EMBEDDER.check(name, "embedding_model")
