"""Reranker training: the objectives on the inference prompts, resume to the same weights, adapters that
load and change the model, atomic publish, defaults, and bad input refused before training starts."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from haystack import Document
from pydantic import ValidationError

from api.schemas import EvaluationRequest, RerankRequest
from core.adapters import split_model_name
from core.errors import InvalidInputError, NotFoundError
from core.model_registry import is_request_model_name
from evals.qa_dataset import read_questions
from evals.reranker_training_set import reranker_training_set
from rerankers.embedding_reranker import EmbeddingReranker
from rerankers.training.examples import RankingExample
from rerankers.training.objectives import first_token_ranknet, importance_weight, make_objective
from rerankers.training.trainer import RerankerTraining, train_reranker
from tests.conftest import SAMPLE_DATA, SCIFACT, TRAIN_QUERIES
from tests.test_cli import siftrag

MODEL = "smollm2-135m-instruct"


def _config(**overrides) -> RerankerTraining:
    return RerankerTraining(**({"objective": "first", "window": 4, "passage_words": 8, "lora_rank": 4,
                                "lora_alpha": 8, "checkpoint_every": 2, "learning_rate": 1e-3} | overrides))


def test_training_set_keeps_positives_and_orders_them_first(train_folder: Path) -> None:
    examples, record = reranker_training_set(train_folder, depth=5)
    assert record["queries"] == len(examples) == TRAIN_QUERIES and record["checked_disjoint_from"] == {"test": 2}
    for example in examples:
        assert len(example.documents) == 5 and sorted(example.teacher) == list(range(5))
        positives = [i for i, d in enumerate(example.documents) if d.id in example.relevant]
        assert positives and example.teacher[:len(positives)] == positives


def test_the_embedding_teacher_orders_positives_first_then_by_the_fused_embedding_reranker(train_folder: Path) -> None:
    labels = reranker_training_set(train_folder, depth=5)[0]
    examples, record = reranker_training_set(train_folder, depth=5, teacher="embedding")
    assert "embedding reranker" in record["teacher"]
    reranker = EmbeddingReranker()
    for plain, example in zip(labels, examples):
        assert [d.id for d in example.documents] == [d.id for d in plain.documents]  # the same candidates
        positives = [i for i in example.teacher if example.documents[i].id in example.relevant]
        assert sorted(example.teacher) == list(range(5)) and example.teacher[:len(positives)] == positives
        fused = [d.id for d in reranker.run(query=example.query, documents=example.documents, top_k=5)["documents"]]
        rest = [example.documents[i].id for i in example.teacher[len(positives):]]
        assert rest == [doc_id for doc_id in fused if doc_id not in example.relevant]
    assert any(e.teacher != p.teacher for e, p in zip(examples, labels))  # it is not BM25's order
    with pytest.raises(InvalidInputError, match="Unknown teacher"):
        reranker_training_set(train_folder, depth=5, teacher="gpt-4")


def test_first_objective_is_the_inference_prompt_plus_the_teacher_permutation(train_folder: Path) -> None:
    example = reranker_training_set(train_folder, depth=4)[0][0]
    objective = make_objective("first", MODEL, 8, 4, 10.0, 3)
    sequence = objective.sequences(example, random.Random(3))[0]
    prompt_ids, target = sequence.ids[:sequence.target_start], sequence.ids[sequence.target_start:]
    shown = [example.documents[i] for i in _shown(example, 3)]
    prompt, identifiers = objective.reranker.prompt(example.query, shown, primed=True)
    assert prompt_ids == objective.encode(prompt) and sequence.rank_position == len(prompt_ids) - 1
    best_shown = sequence.teacher_ranks.index(0)
    assert objective.tokenizer.decode(target).startswith(f"{identifiers.labels[best_shown]}] > [")
    assert target[-1] == objective.tokenizer.eos_token_id and target[0] == identifiers.token_ids[best_shown]


def _shown(example: RankingExample, seed: int) -> list[int]:
    """The order the objective shows with shuffle_fraction 1 (one draw decides to shuffle, then the shuffle)."""
    order = list(range(len(example.documents)))
    rng = random.Random(seed)
    rng.random()
    rng.shuffle(order)
    return order


def test_without_shuffling_candidates_keep_the_first_stage_order(train_folder: Path) -> None:
    example = reranker_training_set(train_folder, depth=4)[0][0]
    objective = make_objective("first", MODEL, 8, 4, 10.0, 3, shuffle_fraction=0.0)
    sequence = objective.sequences(example, random.Random(3))[0]
    prompt, _ = objective.reranker.prompt(example.query, example.documents, primed=True)
    assert sequence.ids[:sequence.target_start] == objective.encode(prompt)
    assert sequence.teacher_ranks == [example.teacher.index(i) for i in range(len(example.documents))]


def test_first_ranknet_and_fullrank_weights_by_hand() -> None:
    scores = torch.tensor([1.0, 3.0, 0.0])  # teacher: passage 0 best, then 1, then 2
    expected = (math.log1p(math.exp(2.0)) / 3 + math.log1p(math.exp(-1.0)) / 4 + math.log1p(math.exp(-3.0)) / 5)
    assert float(first_token_ranknet(scores, [0, 1, 2])) == pytest.approx(expected, rel=1e-5)
    spans = [(1, 3, 1), (7, 8, 2)]  # "[12] > [3]": identifier "12" at rank 1, "3" at rank 2
    assert importance_weight(1, 2, spans) == pytest.approx(2.0) and importance_weight(2, 3, spans) == 2.0
    assert importance_weight(7, 8, spans) == pytest.approx(1 + 1 / math.log2(3))
    assert importance_weight(3, 7, spans) == 1.0


def test_fullrank_and_pointwise_objectives(train_folder: Path) -> None:
    example = reranker_training_set(train_folder, depth=4)[0][0]
    fullrank = make_objective("fullrank", MODEL, 8, 4, 10.0, 3).sequences(example, random.Random(0))[0]
    tokenizer = make_objective("fullrank", MODEL, 8, 4, 10.0, 3).tokenizer
    text = tokenizer.decode(fullrank.ids[fullrank.target_start:-1])
    assert sorted(text.replace("[", "").replace("]", "").split(" > ")) == ["1", "2", "3", "4"]
    assert max(fullrank.weights) == pytest.approx(2.0) and min(fullrank.weights) == 1.0
    pointwise = make_objective("pointwise", MODEL, 8, 4, 10.0, 2)
    sequences = pointwise.sequences(example, random.Random(0))
    assert [s.ids[-1] for s in sequences] == [pointwise.yes, pointwise.no, pointwise.no]


@pytest.mark.parametrize("objective", ["first", "fullrank", "pointwise"])
def test_training_lowers_the_objective_on_its_example(objective: str, train_folder: Path, data_dir: Path) -> None:
    from core.adapters import adapter_dir
    from core.lora_training import target_logits
    from core.model_loading import load_causal_lm

    examples, record = reranker_training_set(train_folder, depth=4)
    name = f"lowers-{objective}"
    result = train_reranker(_config(objective=objective, epochs=6, max_examples=1, learning_rate=2e-3),
                            examples, adapter_dir("rerankers", name), record)
    trained_on = next(e for e in examples if e.query_id in result["data"]["query_ids"])
    scorer = make_objective(objective, MODEL, 8, 4, 10.0, 3)
    sequences = scorer.sequences(trained_on, random.Random(99))  # an order of the passages not trained on

    def loss(model_name: str) -> float:
        model, _ = load_causal_lm(model_name)
        with torch.no_grad():
            return float(scorer.loss(target_logits(model, sequences), sequences))

    assert loss(f"{MODEL}+{name}") < 0.8 * loss(MODEL)
    assert json.loads((adapter_dir("rerankers", name) / "training.json").read_text())["serves"][0] == objective


def test_interrupted_training_resumes_to_the_same_weights(train_folder: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    examples, record = reranker_training_set(train_folder, depth=4)

    class Interrupted(Exception):
        pass

    def crash_at_step_3(step: int, total: int, loss: float) -> None:
        if step == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_reranker(_config(max_examples=5), examples, tmp_path / "resumed", record, crash_at_step_3)
    assert (tmp_path / "resumed.checkpoint" / "state.pt").exists() and not (tmp_path / "resumed").exists()
    train_reranker(_config(max_examples=5), examples, tmp_path / "resumed", record)
    train_reranker(_config(max_examples=5), examples, tmp_path / "straight", record)
    resumed = load_file(tmp_path / "resumed" / "adapter_model.safetensors")
    straight = load_file(tmp_path / "straight" / "adapter_model.safetensors")
    assert resumed.keys() == straight.keys()
    assert all(torch.equal(resumed[k], straight[k]) for k in resumed)
    assert not (tmp_path / "resumed.checkpoint").exists()


def test_a_trained_adapter_loads_by_name_and_changes_the_scores(train_folder: Path, data_dir: Path) -> None:
    from core.adapters import adapter_dir
    from core.llm_backend import get_llm
    from rerankers.registry import make_reranker

    examples, record = reranker_training_set(train_folder, depth=4)
    train_reranker(_config(max_examples=2, learning_rate=5e-3), examples, adapter_dir("rerankers", "tiny-first"), record)
    assert split_model_name("tiny-first")[0] == MODEL
    assert is_request_model_name("tiny-first") and is_request_model_name(f"{MODEL}+tiny-first")
    assert not is_request_model_name("/etc/tiny-first") and not is_request_model_name("org/model")
    prompt = get_llm(MODEL).chat_prompt("Rank these.") + "["
    base = get_llm(MODEL).next_token_logprobs([prompt])[0]
    tuned = get_llm(f"{MODEL}+tiny-first").next_token_logprobs([prompt])[0]
    assert not torch.allclose(base, tuned, atol=1e-3)
    reranker = make_reranker("first", model="tiny-first")
    assert reranker.passage_words == 8  # the prompt the adapter was trained on
    one = [{"id": "1", "content": "x"}]
    assert RerankRequest(query="q", documents=one, method="first",
                         model=f"{MODEL}+tiny-first").model == f"{MODEL}+tiny-first"
    for bad in ("/etc/shadow", "org/model", f"{MODEL}+/etc", "never-trained"):
        with pytest.raises(ValidationError, match="paths and hub ids are server settings"):
            RerankRequest(query="q", documents=one, model=bad)
    with pytest.raises(ValidationError, match="pipeline 'bm25>first:model=/etc'"):
        EvaluationRequest(dataset="d", pipelines=["bm25>first:model=/etc"])
    with pytest.raises(InvalidInputError, match="was trained on 'smollm2-135m-instruct'"):
        split_model_name("qwen2.5-coder-0.5b-instruct+tiny-first")
    with pytest.raises(NotFoundError, match="No adapter 'never-trained'"):  # the CLI's exit 3, not "unavailable"
        split_model_name(f"{MODEL}+never-trained")


def test_pipelines_carry_their_own_rerank_options() -> None:
    from evals.pipelines import parse_pipeline, pipeline_options, split_options

    pipeline = f"bm25>first:model={MODEL}+x,passage_words=30"
    assert split_options(pipeline) == ("bm25>first", {"model": f"{MODEL}+x", "passage_words": 30})
    assert parse_pipeline(pipeline) == ("bm25", "first")
    assert pipeline_options(pipeline, {"passage_words": 100, "window": 10}) == {
        "passage_words": 30, "window": 10, "model": f"{MODEL}+x"}
    with pytest.raises(InvalidInputError, match="only reranking pipelines take options"):
        split_options("bm25:k1=1")
    with pytest.raises(InvalidInputError, match="'window' is not KEY=VALUE"):
        split_options("bm25>first:window")


def test_bad_training_input_fails_before_training(train_folder: Path, tmp_path: Path, data_dir: Path) -> None:
    def cli(*args: str):
        return siftrag("train", "reranker", "--name", "x", "--dataset", str(train_folder), *args, data_dir=data_dir)

    unknown = cli("--objective", "listnet")
    assert unknown.returncode == 2 and "objective" in unknown.stderr
    teacher = cli("--objective", "first", "--teacher", "gpt-4")
    assert teacher.returncode == 2 and "Unknown teacher 'gpt-4'" in teacher.stderr
    not_llm = cli("--objective", "first", "--model", "all-minilm-l6-v2")
    assert not_llm.returncode == 2 and "is not an LLM" in not_llm.stderr
    leaking = tmp_path / "leaking"
    leaking.mkdir()
    for item in ("corpus.jsonl.gz", "queries.jsonl", "qrels"):
        (leaking / item).symlink_to(train_folder / item) if item != "qrels" else (leaking / item).mkdir()
    test_rows = (train_folder / "qrels" / "test.tsv").read_text()
    train_rows = (train_folder / "qrels" / "train.tsv").read_text()
    (leaking / "qrels" / "test.tsv").write_text(test_rows + train_rows.splitlines()[1] + "\n")
    (leaking / "qrels" / "train.tsv").write_text(train_rows)
    leak = siftrag("train", "reranker", "--name", "x", "--objective", "first", "--dataset", str(leaking),
                   data_dir=data_dir)
    assert leak.returncode == 2 and "leaks 1 queries of evaluation split 'test'" in leak.stderr
    with pytest.raises(InvalidInputError, match="judged relevant passage"):
        train_reranker(_config(), [RankingExample("q", "a query", [Document(id="1", content="x"),
                                                                   Document(id="2", content="y")], set(), [0, 1])],
                       tmp_path / "none", {})


def test_a_qa_folder_trains_on_its_train_qrels_after_the_answer_sample(data_dir: Path) -> None:
    strategyqa = SAMPLE_DATA / "strategyqa"
    examples, record = reranker_training_set(strategyqa, depth=10)
    sample = read_questions(strategyqa, 200)
    trained = {e.query_id for e in examples}
    assert len(trained) > 2000 and not trained & {q.id for q in sample}  # eval-answers reads the first 200
    assert not {e.query for e in examples} & {q.question for q in sample}
    assert record["dropped_answer_evaluation_sample"].startswith("the first 200 questions")
    facts = examples[0]
    assert facts.relevant and facts.teacher[:len(facts.relevant)] == [
        i for i, d in enumerate(facts.documents) if d.id in facts.relevant]
    wiki = siftrag("train", "reranker", "--name", "x", "--objective", "first", "--dataset",
                   str(SAMPLE_DATA / "2wikimultihopqa"), "--split", "dev500", data_dir=data_dir)
    assert wiki.returncode == 2 and "evaluation sample" in wiki.stderr  # 2Wiki's only gold is dev500


def test_the_shipped_pointwise_adapter_is_the_default_and_never_saw_a_test_query() -> None:
    from evals.beir_loader import load_beir
    from rerankers.registry import make_reranker

    reranker = make_reranker("pointwise")
    assert reranker.model == f"{MODEL}+pointwise-smollm2-scifact"
    assert reranker.passage_words == 60 and reranker.first_stage_weight == 0.5  # what it was measured with
    assert make_reranker("pointwise", first_stage_weight=0.0).first_stage_weight == 0.0
    assert make_reranker("pointwise", model=MODEL).first_stage_weight == 0.0  # the base model runs alone
    training = json.loads((split_model_name(reranker.model)[1].folder / "training.json").read_text())
    test_ids = set(load_beir(SCIFACT, "test").queries)
    assert len(training["data"]["query_ids"]) == 500 and not set(training["data"]["query_ids"]) & test_ids


def test_training_runs_as_a_celery_job(train_folder: Path, tmp_path: Path) -> None:
    """`siftrag train reranker` submitted to a real Celery worker over Redis, followed to the end."""
    import subprocess
    import sys

    from tests.conftest import REPO
    from tests.redis_db import reset_run_redis, run_redis_url
    from tests.service_processes import service_env, start_worker, stop
    from workers.job_store import RedisJobStore

    data_dir = tmp_path / "service-data"
    data_dir.mkdir()
    reset_run_redis()
    worker = start_worker(data_dir, concurrency=1)
    try:
        command = [sys.executable, str(REPO / "cli.py"), "train", "reranker", "--objective", "first", "--name",
                   "celery-first", "--dataset", str(train_folder), "--depth", "4", "--window", "4",
                   "--passage-words", "8", "--lora-rank", "4", "--max-examples", "3"]
        finished = subprocess.run(command, cwd=REPO, env=service_env(data_dir), capture_output=True, text=True,
                                  timeout=600, check=False)
    finally:
        stop(worker)
    assert finished.returncode == 0, finished.stderr[-3000:]
    job = RedisJobStore(run_redis_url()).get(finished.stdout.split("job ", 1)[1].split(":", 1)[0])
    assert job.type == "train_reranker" and job.state.value == "succeeded" and job.done == job.total == 3
    assert job.result["model"] == f"{MODEL}+celery-first"
    training = json.loads((data_dir / "models" / "rerankers" / "celery-first" / "training.json").read_text())
    assert training["data"]["examples_used"] == 3 and len(training["data"]["query_ids"]) == 3
    assert training["data"]["dropped_same_text_as_evaluation"] == [] and training["serves"] == ["first", "listwise"]
