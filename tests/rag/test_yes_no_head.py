"""The yes/no decision head: fitted through `siftrag train yes-no-head` on StrategyQA questions after the
evaluation sample (states cached, so a rerun resumes), published atomically, deciding `yes-no` answers that the
model then cites, and refused where it does not belong."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import InvalidInputError, NotFoundError
from evals.answer_runner import check_unseen
from evals.qa_dataset import read_questions
from rag.answer_generator import CITATION_TOKENS, AnswerGenerator
from rag.yes_no_head import DECISION, decision_states, find_head, load_head
from tests.conftest import SAMPLE_DATA
from tests.test_cli import siftrag

MODEL = "smollm2-135m-instruct"
STRATEGYQA = SAMPLE_DATA / "strategyqa"
TRAIN = ("--dataset", str(STRATEGYQA), "--skip-questions", "200", "--max-questions", "40", "--top-k", "2",
         "--passage-words", "20", "--layer", "20")


@pytest.fixture(scope="module")
def tiny_head(data_dir: Path) -> Path:
    result = siftrag("train", "yes-no-head", "--name", "tiny-head", *TRAIN, data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return data_dir / "models" / "heads" / "tiny-head"


def test_training_fits_on_questions_after_the_sample_and_records_them(tiny_head: Path, data_dir: Path) -> None:
    training = json.loads((tiny_head / "training.json").read_text())
    trained = set(training["data"]["question_ids"])
    assert training["base_model"] == MODEL and training["layer"] == 20 and len(trained) == 40
    assert not trained & {q.id for q in read_questions(STRATEGYQA, 200)}
    assert training["hyperparameters"]["passage_words"] == 20 and 0.0 <= training["cv_auc_by_layer"]["20"] <= 1.0
    assert len(list((data_dir / "cache" / "decision-states").glob("*.npy"))) >= 40  # a rerun reads these
    rerun = siftrag("train", "yes-no-head", "--name", "tiny-head", *TRAIN, data_dir=data_dir)
    assert rerun.returncode == 0, rerun.stderr
    assert np.array_equal(load_head(tiny_head).coef, find_head("tiny-head").coef)
    assert tiny_head.is_symlink()  # published by switching a link to the new version
    assert not [p for p in tiny_head.parent.iterdir() if ".staging-" in p.name]  # no staging folder left


def test_the_head_decides_and_the_model_adds_its_citation(tiny_head: Path) -> None:
    head = find_head("tiny-head")
    generator = AnswerGenerator(answer_format="yes-no", decision_head="tiny-head", max_new_tokens=64)
    assert generator.passage_words == 20  # the cut the head was fitted on
    passages = [{"id": "p1", "content": "Pears are less dense than water, so they float."},
                {"id": "p2", "content": "Lead is much denser than water."}]
    from haystack import Document

    documents = [Document(**p) for p in passages]
    question = "Would a pear sink in water?"
    result = generator.run(question, documents)
    expected = float(head.p_yes(decision_states(generator.llm, [generator.prompt(question, documents) + DECISION]))[0])
    assert result["meta"]["decision"] == {"head": "tiny-head", "p_yes": round(expected, 4)}
    assert result["answer"] == ("yes" if expected > 0.5 else "no")
    assert result["meta"]["output"].startswith(f"{DECISION} {result['answer']}")
    assert result["meta"]["generated_tokens"] <= 8 and result["meta"]["forward_passes"] >= 2
    lead = f"{DECISION} {result['answer']}"
    prompt_ids = generator.llm.tokenizer(generator.prompt(question, documents) + lead, add_special_tokens=False)
    assert result["meta"]["prompt_tokens"] == len(prompt_ids.input_ids)  # the decision pass's cache was reused
    fresh = generator.llm.generate(generator.prompt(question, documents) + lead, CITATION_TOKENS,
                                   decoding=generator.decided_decoding)
    assert result["meta"]["output"] == generator.finish(lead + fresh.text)[0]  # same text as reading it all again
    assert [d.id for d in result["documents"]] == [documents[n - 1].id for n in
                                                   _cited(result["meta"]["output"])]
    alone = AnswerGenerator(MODEL, answer_format="yes-no")  # naming the model runs it without a head
    assert alone.decision_head is None
    closed_book = generator.run(question, [])  # fitted on prompts with passages: closed-book, the model decides
    assert "decision" not in closed_book["meta"]


def _cited(output: str) -> list[int]:
    from rag.answer_prompt import cited_numbers

    return cited_numbers(output, 2)


def test_the_shipped_head_decides_default_yes_no_answers_and_never_saw_the_evaluation_sample() -> None:
    generator = AnswerGenerator(answer_format="yes-no")
    head = generator.decision_head
    assert head is not None and head.name == "yes-no-strategyqa" and head.base == MODEL and head.with_passages
    assert generator.passage_words == 50 and head.training["data"]["questions"] == 2090
    check_unseen(MODEL, read_questions(STRATEGYQA, 200), head)
    assert AnswerGenerator(answer_format="short").decision_head is None


def test_a_head_is_not_evaluated_on_the_questions_it_was_fitted_on(tiny_head: Path) -> None:
    head = find_head("tiny-head")
    trained = set(head.training["data"]["question_ids"])
    seen = [q for q in read_questions(STRATEGYQA, 240) if q.id in trained]
    with pytest.raises(InvalidInputError, match="Yes/no head 'tiny-head' was trained on"):
        check_unseen(MODEL, seen, head)
    check_unseen(MODEL, read_questions(STRATEGYQA, 200), head)


def test_bad_head_input_is_one_sentence(tiny_head: Path, data_dir: Path) -> None:
    with pytest.raises(NotFoundError, match="No yes/no head 'missing'"):
        AnswerGenerator(answer_format="yes-no", decision_head="missing")
    with pytest.raises(InvalidInputError, match="not a head name"):
        AnswerGenerator(answer_format="yes-no", decision_head="../etc")
    with pytest.raises(InvalidInputError, match="decides 'yes-no' answers, not 'short'"):
        AnswerGenerator(answer_format="short", decision_head="tiny-head")
    with pytest.raises(InvalidInputError, match="reads the states of 'smollm2-135m-instruct'"):
        AnswerGenerator("smollm2-135m-instruct+reader-2wiki", answer_format="yes-no", decision_head="tiny-head")
    few = siftrag("train", "yes-no-head", "--name", "x", "--dataset", str(STRATEGYQA), "--max-questions", "12",
                  data_dir=data_dir)
    assert few.returncode == 2 and "needs at least 10 of each" in few.stderr
    layer = siftrag("train", "yes-no-head", "--name", "x", "--dataset", str(STRATEGYQA), "--layer", "99",
                    data_dir=data_dir)
    assert layer.returncode == 2 and "has no layer 99" in layer.stderr
    assert "Traceback" not in few.stderr + layer.stderr


def test_yes_no_evaluations_are_paired_against_the_majority_answer(data_dir: Path, tmp_path: Path) -> None:
    from evals.answer_runner import run_answer_evaluation

    report = run_answer_evaluation(STRATEGYQA, ["none"], 8, tmp_path, max_new_tokens=24)
    rows = [json.loads(line) for line in (tmp_path / "predictions-none.jsonl").read_text().splitlines()]
    gold = [r["answers"][0] for r in rows]
    majority = max(("no", "yes"), key=gold.count)
    versus = report["variants"]["none"]["vs_majority"]
    assert versus["answer"] == majority and versus["accuracy"] == round(gold.count(majority) / 8, 4)
    assert versus["wins"] == sum(r["em"] and g != majority for r, g in zip(rows, gold))
    assert versus["losses"] == sum(not r["em"] and g == majority for r, g in zip(rows, gold))
    assert 0.0 <= versus["p"] <= 1.0
