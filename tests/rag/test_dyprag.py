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
import torch
from torch.nn import functional as F

from core.errors import InvalidInputError, NotFoundError
from core.llm_backend import LLMBackend, get_llm
from core.lora_delta import LoraDelta, projections
from evals.dataset_collection import ensure_dataset_collection
from indexes.retriever import collection_manager
from rag.parametric.document_augmentation import (
    Augmentation,
    QAPair,
    augment,
    grounded_pairs,
    parse_qa,
    training_examples,
)
from rag.parametric.dyprag_answerer import DypragAnswerer, translate_documents
from rag.parametric.prag_lora import LoraSettings, PragTrainer
from rag.parametric.translator import ParameterTranslator, TranslatorConfig
from rag.parametric.translator_store import load_translator
from rag.parametric.translator_training import DocumentPair, DypragTraining, _losses
from tests.conftest import REPO
from tests.redis_db import reset_run_redis, run_redis_url
from tests.service_processes import service_env, start_worker, stop
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
    reset_run_redis()
    worker = start_worker(data_dir, concurrency=1)
    try:
        command = [sys.executable, str(REPO / "cli.py"), "train", "dyprag", "--dataset", str(fictional_qa),
                   "--name", "fictional", "--documents", "6", "--validation-documents", "1", "--question-offset",
                   "0", "--epochs", "2", "--lora-epochs", "2", "--augmentation-attempts", "1",
                   "--learning-rate", "1e-2"]  # the reference's 1e-5 needs ~2,400 steps to move its 1e-7 init
        finished = subprocess.run(command, cwd=REPO, env=service_env(data_dir), capture_output=True, text=True,
                                  timeout=900, check=False)
    finally:
        stop(worker)
    assert finished.returncode == 0, finished.stderr[-3000:]
    job_id = finished.stdout.split("job ", 1)[1].split(":", 1)[0]
    job = RedisJobStore(run_redis_url()).get(job_id)
    return {"job": job, "folder": Path(job.result["translator"])}


def test_training_runs_as_a_celery_job_with_progress(trained: dict) -> None:
    job = trained["job"]
    assert job.state.value == "succeeded" and job.type == "train_dyprag"
    report = json.loads((trained["folder"] / "training.json").read_text())
    kept = report["documents"]  # documents whose augmentation gave QA triples (the reference skips the others;
    tried = report["documents_tried"]  # SmolLM2 gives none for about one passage in four)
    assert 4 <= tried <= 6 and 2 <= kept <= tried and report["validation_documents"] == 1
    assert job.done == job.total == tried + 2 * (kept - 1) + 1  # augmented, 2 translator epochs, 1 held out
    assert len(report["translator_epochs"]) == 2 and report["qa_pairs_per_document"] >= 1
    assert set(report["validation_lm_loss"]) == {"base", "prag", "translated", "translated_other_document"}
    assert report["prag_loss_after"] < report["prag_loss_before"]  # the PRAG LoRAs learned
    translator = load_translator(str(trained["folder"]))
    config = get_llm(MODEL).config
    delta = translator.delta(torch.zeros(config.hidden_size))
    assert len(delta.factors) == 3 * config.num_hidden_layers and delta.scale == 1.0  # ΔW = B·A, unscaled
    a, b = delta.factors["layers.0.mlp.down_proj"]
    assert a.shape == (2, config.intermediate_size) and b.shape == (config.hidden_size, 2)


def test_hooks_add_exactly_the_peft_lora() -> None:
    llm = get_llm(MODEL)
    title, text = DOCUMENTS["zq"]
    augmentation = Augmentation(f"{title}\n{text}", text, [QAPair("Who founded Zorbleflax Quintronics?",
                                                                   "Vrenthal Mokasi")], 1)
    examples = training_examples(llm, augmentation)
    trainer = PragTrainer(MODEL, LoraSettings(epochs=2))
    lora = trainer.train(examples, seed=0)
    assert lora.loss_after < lora.loss_before and lora.delta.scale == 16.0  # peft's alpha / r
    with torch.no_grad():
        peft_logits = trainer.model(input_ids=torch.tensor([examples[1]])).logits[0]
        hooked = llm.lm_outputs(examples[1], lora.delta)[0]
        base = llm.lm_outputs(examples[1])[0]
    assert torch.allclose(peft_logits, hooked, atol=1e-4)
    assert (base - hooked).abs().max() > 1e-2


def test_a_translated_delta_adds_b_times_a_unscaled() -> None:
    """The reference's ``delta_inject`` sets ΔW = B @ A and the patched MLP adds ΔW x: no alpha / r."""
    llm = get_llm(MODEL)
    config = llm.config
    translator = ParameterTranslator(TranslatorConfig(MODEL, config.num_hidden_layers, config.hidden_size,
                                                      config.intermediate_size))
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in translator.parameters():
            parameter.normal_(0, 0.05)
    delta = translator.delta(torch.randn(config.hidden_size))
    key = "layers.3.mlp.up_proj"
    module = projections(llm.model)[key]
    x = torch.randn(1, 4, config.hidden_size)
    a, b = delta.factors[key]
    with torch.no_grad(), llm.with_delta(LoraDelta({key: (a, b)}, delta.scale)):
        hooked = module(x)
    expected = F.linear(x, module.weight) + x @ (b @ a).T
    assert torch.allclose(hooked, expected, atol=1e-4)
    assert (hooked - F.linear(x, module.weight) - 16 * x @ (b @ a).T).abs().max() > 1e-3


def test_translator_matches_the_reference_projector() -> None:
    """Separate A and B hypernetworks, no biases, N(0, 1e-7) init, the raw layer index as the extra input."""
    config = TranslatorConfig(MODEL, layers=3, hidden_size=8, intermediate_size=12)
    translator = ParameterTranslator(config)
    weights = dict(translator.named_parameters())
    assert not [name for name in weights if name.endswith("bias")]
    assert len(weights) == 3 * 3 * 2 * 2 and all(w.abs().max() < 1e-5 for w in weights.values())
    with torch.no_grad():
        for parameter in translator.parameters():
            parameter.fill_(0.0)
        net = translator.nets["2_gate_proj_A"]
        net[0].weight[:, -1] = 1.0  # reads only the layer-index input
        net[2].weight.fill_(1.0)
    a, b = translator.factors(torch.zeros(8))["layers.2.mlp.gate_proj"]
    assert torch.all(a == 32 * 2.0) and torch.all(b == 0)  # 32 hidden units × raw layer index 2


def test_kl_is_summed_over_every_position_of_the_first_example() -> None:
    """The reference's ``kl_div(..., reduction="batchmean")`` with batch 1 over the whole (padded) sequence:
    a sum over positions, not a mean over answer tokens."""
    llm = get_llm(MODEL)
    config = llm.config
    translator = ParameterTranslator(TranslatorConfig(MODEL, config.num_hidden_layers, config.hidden_size,
                                                      config.intermediate_size))
    embedding = torch.randn(config.hidden_size)
    teacher = translator.delta(embedding)
    teacher = LoraDelta({k: (a.detach() + 0.02, b.detach() + 0.02) for k, (a, b) in teacher.factors.items()}, 16.0)
    first = llm.encode(llm.chat_prompt("Question: Who founded Zorbleflax Quintronics?")) + llm.encode("Vrenthal")
    pair = DocumentPair("p", [first, first[:5]], teacher, embedding, 1, (0.0, 0.0))
    parts = _losses(llm, translator, pair, DypragTraining(MODEL))
    inputs = torch.tensor([first])
    with torch.no_grad():
        with llm.with_delta(teacher):
            p = F.softmax(llm.model(inputs).logits[0].float(), dim=-1)
        with llm.with_delta(translator.delta(embedding)):
            out = llm.model(inputs, labels=inputs)
        logq = F.log_softmax(out.logits[0].float(), dim=-1)
    expected = float((p * (p.log() - logq)).sum())
    assert abs(float(parts["kl"]) - expected) < 1e-3 * max(1.0, expected)
    assert abs(float(parts["lm"]) - float(out.loss)) < 1e-4  # the whole sequence is learned


def test_a_delta_changes_its_request_and_leaves_a_concurrent_request_bit_identical(trained: dict) -> None:
    reference = LLMBackend(MODEL)  # a fresh copy without hooks: the plain base model
    prompt = reference.chat_prompt("Question: Who founded Zorbleflax Quintronics?")
    base = reference.generate(prompt, 16)
    llm = get_llm(MODEL)
    translator = load_translator(str(trained["folder"]))
    delta = translate_documents(translator, llm, [f"{t}\n{x}" for t, x in list(DOCUMENTS.values())[:3]])
    start = threading.Barrier(2)

    def request(with_delta: bool) -> list:
        start.wait()
        with llm.with_delta(delta if with_delta else None):
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


def test_reference_training_defaults() -> None:
    settings = DypragTraining(MODEL)
    assert (settings.learning_rate, settings.epochs, settings.kl_weight, settings.mse_weight) == (1e-5, 1, 0.01, 100)
    assert (settings.lora_rank, settings.lora_alpha, settings.lora_learning_rate, settings.lora_epochs) == (
        2, 32, 3e-4, 1)


def test_generated_qa_json_is_parsed_object_by_object() -> None:
    """Complete objects of a truncated list, the template's missing comma tolerated, copies of the prompt's
    example and repeated questions dropped."""
    text = ('Here you go:\n[\n    {"question": "What is the capital of France?", "answer": "Paris"},\n'
            '    {\n        "question": "What is the capital of Castavel?",\n'
            '        "answer": "Dunmere"\n        "full_answer": "The capital of Castavel is Dunmere."\n    },\n'
            '    {"question": "What museum is in Dunmere?", "answer": "the Royal \\"Glass\\" Museum", '
            '"full_answer": "It is the Royal Glass Museum."},\n    {"question": "What is the capital of Castavel?", '
            '"answer": "Dunmere", "full_answer": "x"},\n    {"question": "What is')
    assert parse_qa(text) == [
        QAPair("What is the capital of Castavel?", "Dunmere", "The capital of Castavel is Dunmere."),
        QAPair("What museum is in Dunmere?", 'the Royal "Glass" Museum', "It is the Royal Glass Museum.")]


def test_training_examples_follow_the_reference_layout() -> None:
    """3 triples → the first two each with the passage and with the rewrite, the third without a passage."""
    llm = get_llm(MODEL)
    qa = [QAPair("Who founded it?", "Vrenthal Mokasi"), QAPair("Where", "Ulbrecht"), QAPair("When?", "1987")]
    examples = training_examples(llm, Augmentation("PASSAGE TEXT", "REWRITE TEXT", qa, 1))
    texts = [llm.tokenizer.decode(ids) for ids in examples]
    assert len(texts) == 5
    assert "Passage 1: PASSAGE TEXT" in texts[0] and texts[0].endswith("The answer is Vrenthal Mokasi.")
    assert "Passage 1: REWRITE TEXT" in texts[1] and "Question: Where?" in texts[2]
    assert "Passage 1:" not in texts[4] and texts[4].endswith("The answer is 1987.")


def test_augmentation_samples_reproducibly() -> None:
    llm = get_llm(MODEL)
    passage = " ".join(DOCUMENTS["zq"])
    first, again, other = (augment(llm, passage, seed, attempts=1, max_new_tokens=24) for seed in (1, 1, 2))
    assert first == again and first.attempts == 1  # same seed, same sample
    assert (first.rewrite, first.qa) != (other.rewrite, other.qa)  # temperature 0.7: another seed, another sample


def test_only_grounded_fallback_pairs_are_kept() -> None:
    passage = "Dunmere is the capital of Castavel and home to the Royal Glass Museum."
    text = ("Question: What is the capital of Castavel?\nAnswer: Dunmere\n"
            "Question: When was Dunmere founded?\nAnswer: 4 July 1850\n"
            "Question: What museum is in Dunmere?\nAnswer: the Royal Glass Museum.\nQuestion: What is")
    assert grounded_pairs(text, passage) == [QAPair("What is the capital of Castavel?", "Dunmere"),
                                             QAPair("What museum is in Dunmere?", "the Royal Glass Museum")]
