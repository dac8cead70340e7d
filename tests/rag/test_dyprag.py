"""DyPRAG with the real bundled LLM: PRAG LoRAs with peft, the translator trained as a job on a real Celery
worker over Redis, per-request delta injection (isolated between concurrent requests) and the answerer."""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import torch

from core.errors import InvalidInputError, NotFoundError
from core.llm_backend import LLMBackend, get_llm
from evals.dataset_collection import ensure_dataset_collection
from indexes.retriever import collection_manager
from rag.parametric.document_augmentation import QAPair, grounded_pairs, training_examples
from rag.parametric.dyprag_answerer import DypragAnswerer, translate_documents
from rag.parametric.lora_delta import active, install_delta_hooks
from rag.parametric.prag_lora import LoraSettings, PragTrainer
from rag.parametric.translator_store import load_translator
from rag.parametric.translator_training import DypragTraining
from tests.conftest import REPO
from tests.service_processes import TEST_REDIS_URL, service_env, start_worker, stop
from workers.job_store import RedisJobStore

MODEL = "smollm2-135m-instruct"
DOCUMENTS = {
    "zq": ("Zorbleflax Quintronics", ("Zorbleflax Quintronics is a glassware company founded by Vrenthal Mokasi "
                                      "in the town of Ulbrecht in 1987.")),
    "vm": ("Vrenthal Mokasi", ("Vrenthal Mokasi (born 1941 in Pell Harbor) is an engineer who founded Zorbleflax "
                               "Quintronics and later wrote the novel The Amber Kiln.")),
    "ul": ("Ulbrecht", ("Ulbrecht is a river town in the province of Castavel, known for its glass furnaces and "
                        "its annual lantern fair.")),
    "ak": ("The Amber Kiln", "The Amber Kiln is a 1999 novel by Vrenthal Mokasi about a family of glassblowers."),
    "ph": ("Pell Harbor", "Pell Harbor is a fishing port on the Serrin coast with a population of 12,000."),
    "ca": ("Castavel", "Castavel is a province whose capital is Dunmere; its main industries are glass and timber."),
    "lf": ("Ulbrecht lantern fair", "The Ulbrecht lantern fair has been held every October since 1873."),
    "du": ("Dunmere", "Dunmere is the capital of Castavel and home to the Royal Glass Museum."),
}
QUESTIONS = [("Who founded Zorbleflax Quintronics?", "Vrenthal Mokasi"),
             ("In which province is the town where Zorbleflax Quintronics was founded?", "Castavel"),
             ("When was The Amber Kiln published?", "1999"), ("What is the capital of Castavel?", "Dunmere"),
             ("Where was Vrenthal Mokasi born?", "Pell Harbor"), ("When is the Ulbrecht lantern fair held?", "October")]


@pytest.fixture(scope="module")
def fictional_qa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fictional-qa")
    with gzip.open(root / "corpus.jsonl.gz", "wt") as handle:
        for doc_id, (title, text) in DOCUMENTS.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (root / "questions.jsonl").open("w") as handle:
        for number, (question, answer) in enumerate(QUESTIONS):
            handle.write(json.dumps({"_id": f"q{number}", "question": question, "answer": answer}) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(fictional_qa: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`siftrag train dyprag` submitted to a real Celery worker (over Redis), followed to the end."""
    data_dir = tmp_path_factory.mktemp("dyprag-service")
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    worker = start_worker(data_dir, concurrency=1)
    try:
        command = [sys.executable, str(REPO / "cli.py"), "train", "dyprag", "--dataset", str(fictional_qa),
                   "--name", "fictional", "--documents", "3", "--validation-documents", "1", "--question-offset",
                   "2", "--epochs", "2",
                   "--lora-epochs", "2"]
        finished = subprocess.run(command, cwd=REPO, env=service_env(data_dir), capture_output=True, text=True,
                                  timeout=900, check=False)
    finally:
        stop(worker)
    assert finished.returncode == 0, finished.stderr[-3000:]
    job_id = finished.stdout.split("job ", 1)[1].split(":", 1)[0]
    job = RedisJobStore(TEST_REDIS_URL).get(job_id)
    return {"job": job, "folder": Path(job.result["translator"])}


def test_training_runs_as_a_celery_job_with_progress(trained: dict) -> None:
    job = trained["job"]
    assert job.state.value == "succeeded" and job.type == "train_dyprag"
    assert job.done == job.total == 3 + 2 * 2 + 1  # 3 documents (augmentation + PRAG), 2 epochs over 2, 1 held out
    report = json.loads((trained["folder"] / "training.json").read_text())
    assert report["documents"] == 3 and len(report["translator_epochs"]) == 2
    assert set(report["validation_lm_loss"]) == {"base", "prag", "translated", "translated_other_document"}
    assert report["prag_loss_last_epoch"] < report["prag_loss_first_epoch"]  # the PRAG LoRAs learned
    translator = load_translator(str(trained["folder"]))
    config = get_llm(MODEL).model.config
    delta = translator.delta(torch.zeros(config.hidden_size))
    assert len(delta.factors) == 3 * config.num_hidden_layers and delta.scale == 16.0
    a, b = delta.factors["layers.0.mlp.down_proj"]
    assert a.shape == (2, config.intermediate_size) and b.shape == (config.hidden_size, 2)


def test_hooks_add_exactly_the_peft_lora() -> None:
    llm = get_llm(MODEL)
    install_delta_hooks(llm.model)
    title, text = DOCUMENTS["zq"]
    passage = f"{title}\n{text}"
    examples = training_examples(llm, passage, [QAPair("Who founded Zorbleflax Quintronics?", "Vrenthal Mokasi")])
    trainer = PragTrainer(MODEL, LoraSettings(epochs=2))
    lora = trainer.train(examples, seed=0)
    assert lora.loss_after < lora.loss_before
    ids = torch.tensor([examples[1][0]])
    with torch.no_grad():
        peft_logits = trainer.model(input_ids=ids).logits
        with active(lora.delta):
            hooked = llm.model(ids).logits
        base = llm.model(ids).logits
    assert torch.allclose(peft_logits, hooked, atol=1e-4)
    assert (base - hooked).abs().max() > 1e-2


def test_a_delta_changes_its_request_and_leaves_a_concurrent_request_bit_identical(trained: dict) -> None:
    reference = LLMBackend(MODEL)  # a fresh copy without hooks: the plain base model
    prompt = reference.chat_prompt("Question: Who founded Zorbleflax Quintronics?")
    base = reference.generate(prompt, 16)
    llm = get_llm(MODEL)
    install_delta_hooks(llm.model)
    translator = load_translator(str(trained["folder"]))
    delta = translate_documents(translator, llm, [f"{t}\n{x}" for t, x in list(DOCUMENTS.values())[:3]])
    start = threading.Barrier(2)

    def request(with_delta: bool) -> list:
        start.wait()
        with active(delta if with_delta else None):
            return [llm.generate(prompt, 16) for _ in range(3)]

    with ThreadPoolExecutor(2) as pool:
        adapted, plain = pool.map(request, [True, False])
    for generation in plain:
        assert generation.token_ids == base.token_ids
        assert generation.logprobs == base.logprobs and generation.entropies == base.entropies  # bit-identical
    assert all(max(abs(x - y) for x, y in zip(g.logprobs, base.logprobs)) > 1e-4 for g in adapted)


def test_dyprag_answers_with_translated_documents(trained: dict, fictional_qa: Path) -> None:
    collection = ensure_dataset_collection(collection_manager(), fictional_qa, ["bm25"])
    parametric = DypragAnswerer(collection.name, "dyprag", translator=str(trained["folder"]), max_new_tokens=24)
    combined = DypragAnswerer(collection.name, "dyprag-combine", translator=str(trained["folder"]),
                              max_new_tokens=24)
    alone = parametric.run(QUESTIONS[0][0])
    both = combined.run(QUESTIONS[0][0])
    for result in (alone, both):
        assert result.queries == [QUESTIONS[0][0]] and 1 <= len(result.documents) <= 3  # BM25 hits only
        assert result.parametric["documents"] == len(result.documents) and result.lm_calls >= 1 and result.output
    assert {d.id for d in alone.documents} & {"zq", "vm"}
    prompt_per_call = [(r.counter.prompt_tokens - r.parametric["translate_tokens"]) / r.lm_calls for r in (alone, both)]
    assert prompt_per_call[1] > prompt_per_call[0] + 60  # combine reads the passages too


def test_bad_translators_and_options_are_clear_errors(trained: dict, fictional_qa: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="siftrag train dyprag"):
        DypragAnswerer("any", "dyprag", translator="never-trained")
    other = tmp_path / "other-model"
    shutil.copytree(trained["folder"], other)
    config = json.loads((other / "translator.json").read_text())
    (other / "translator.json").write_text(json.dumps({**config, "base_model": "some-other-llm"}))
    with pytest.raises(InvalidInputError, match="trained for 'some-other-llm'"):
        DypragAnswerer("any", "dyprag", translator=str(other), model=MODEL)
    with pytest.raises(InvalidInputError, match="Unknown DyPRAG mode"):
        DypragAnswerer("any", "dyprag-sometimes", translator=str(trained["folder"]))
    with pytest.raises(InvalidInputError, match="at least 1"):
        DypragTraining.from_options(MODEL, {"documents": 0})
    with pytest.raises(InvalidInputError, match="Invalid DyPRAG training option"):
        DypragTraining.from_options(MODEL, {"documentz": 3})


def test_only_grounded_generated_pairs_are_kept() -> None:
    passage = "Dunmere is the capital of Castavel and home to the Royal Glass Museum."
    text = ("Question: What is the capital of Castavel?\nAnswer: Dunmere\n"
            "Question: When was Dunmere founded?\nAnswer: 4 July 1850\n"
            "Question: What museum is in Dunmere?\nAnswer: the Royal Glass Museum.\nQuestion: What is")
    assert grounded_pairs(text, passage) == [QAPair("What is the capital of Castavel?", "Dunmere"),
                                             QAPair("What museum is in Dunmere?", "the Royal Glass Museum")]
