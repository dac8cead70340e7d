"""Reader training (RAFT): data from real QA folders that never includes the evaluation sample, contexts with the
gold passages swapped in, replies that cite them, an adapter trained through `siftrag train reader` that lowers
its loss and answers, and evaluations that refuse questions the adapter saw."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from haystack import Document

from core.adapters import split_model_name
from core.errors import InvalidInputError
from core.lora_training import target_logits, weighted_lm_loss
from evals.answer_runner import check_unseen, parse_variant
from evals.qa_dataset import QAItem, read_questions
from evals.reader_training_set import pooled_reader_training_set, reader_training_set
from rag.answer_generator import AnswerGenerator
from rag.reader_training import (
    ReaderExample,
    ReaderTraining,
    reader_sequence,
    reasoning_reply,
    shown_passages,
    usable_examples,
)
from tests.conftest import SAMPLE_DATA
from tests.test_cli import siftrag

MODEL = "smollm2-135m-instruct"
STRATEGYQA = SAMPLE_DATA / "strategyqa"
TWOWIKI = SAMPLE_DATA / "2wikimultihopqa"
HANDWRITTEN = SAMPLE_DATA / "handwritten-qa"


def test_strategyqa_training_set_skips_the_evaluation_sample_and_reasons_with_the_facts() -> None:
    examples, record = reader_training_set(STRATEGYQA, skip_questions=200, depth=10, max_questions=30)
    evaluated = {q.id for q in read_questions(STRATEGYQA, 200)}
    assert len(examples) == record["questions"] == 30 and not evaluated & {e.question_id for e in examples}
    assert record["skipped_evaluation_sample"] == 200 and len(record["question_ids_sha256"]) == 64
    for example in examples:
        assert example.answer in ("yes", "no") and len(example.candidates) == 10
        assert [passage_id for _, passage_id in example.steps] == [d.id for d in example.gold]


def test_2wiki_steps_are_evidence_triples_resting_on_gold_passages() -> None:
    examples, record = reader_training_set(TWOWIKI, skip_questions=300, depth=5, max_questions=40)
    assert record["steps"] == "evidence triples" and len(examples) == 40
    steps = [step for e in examples for step in e.steps]
    gold_ids = {d.id for e in examples for d in e.gold}
    assert sum(p is not None for _, p in steps) >= 0.95 * len(steps) and {p for _, p in steps} - {None} <= gold_ids
    assert all(text.startswith("The ") for text, _ in steps)


def test_handwritten_questions_quote_their_support_and_pool_with_2wiki() -> None:
    examples, record = pooled_reader_training_set([(TWOWIKI, 300), (HANDWRITTEN, 110)], depth=5, max_questions=20)
    assert [(part["dataset"], part["questions"]) for part in record["datasets"]] == [
        ("2wikimultihopqa", 20), ("handwritten-qa", 20)]
    assert record["datasets"][1]["steps"] == "support sentences quoted from the gold passage"
    evaluated = {q.id for q in read_questions(HANDWRITTEN, 110)}
    handwritten = [e for e in examples if e.question_id.startswith("hw-")]
    assert len(handwritten) == 20 and not evaluated & {e.question_id for e in examples}
    for example in handwritten:
        (sentence, passage_id), = example.steps
        assert passage_id == example.gold[0].id and sentence in example.gold[0].content
        assert example.answer in sentence
    with pytest.raises(InvalidInputError, match="share question ids"):
        pooled_reader_training_set([(HANDWRITTEN, 110), (HANDWRITTEN, 110)], depth=5, max_questions=2)


def test_an_example_whose_quote_the_prompt_cuts_off_is_not_trained_on() -> None:
    passage = Document(id="g", content=" ".join(["filler"] * 60) + ". Kyoto was the capital until 1868.",
                       meta={"title": "Kyoto"})
    example = ReaderExample("q", "Until when was Kyoto the capital?", [passage], [passage],
                            [("Kyoto was the capital until 1868.", "g")], "1868")
    assert usable_examples(ReaderTraining(answer_format="short", passage_words=100), [example]) == [example]
    with pytest.raises(InvalidInputError, match="No training question"):
        usable_examples(ReaderTraining(answer_format="short", passage_words=40), [example])


def _example() -> ReaderExample:
    candidates = [Document(id=f"c{i}", content=f"candidate {i}") for i in range(5)]
    gold = [Document(id="g1", content="Paris is in France."), Document(id="c3", content="candidate 3")]
    return ReaderExample("q", "Where?", candidates, gold, [("Paris is in France.", "g1"), ("candidate 3", "c3")],
                         "yes")


def test_oracle_context_holds_every_gold_passage_and_the_reply_cites_where_they_are() -> None:
    example = _example()
    shown = shown_passages(example, 3, random.Random(0), oracle_fraction=1.0)
    ids = [d.id for d in shown]
    assert len(shown) == 3 and {"g1", "c3"} <= set(ids)
    reply = reasoning_reply(example, shown)
    assert reply == (f"Paris is in France [{ids.index('g1') + 1}]. candidate 3 [{ids.index('c3') + 1}]. "
                     f"So the answer is: yes [{ids.index('c3') + 1}].")
    as_retrieved = shown_passages(example, 3, random.Random(0), oracle_fraction=0.0)
    assert [d.id for d in as_retrieved] == ["c0", "c1", "c2"]
    assert reasoning_reply(example, as_retrieved) == "Paris is in France. candidate 3. So the answer is: yes."


def test_training_sequence_is_the_served_prompt_plus_the_reply() -> None:
    example = _example()
    config = ReaderTraining(top_k=3, oracle_fraction=1.0)
    generator = AnswerGenerator(MODEL, answer_format="yes-no")
    sequence = reader_sequence(generator, example, config, random.Random(0))
    shown = shown_passages(example, 3, random.Random(0), 1.0)
    prompt = generator.llm.encode(generator.prompt(example.question, shown))
    assert sequence.ids[:sequence.target_start] == prompt
    reply = generator.llm.tokenizer.decode(sequence.ids[sequence.target_start:], skip_special_tokens=True)
    assert reply == reasoning_reply(example, shown)
    with pytest.raises(ValueError, match="train a reader for one of short, yes-no"):
        ReaderTraining(answer_format="free")


def test_trained_reader_lowers_its_loss_answers_and_is_refused_on_questions_it_saw(data_dir: Path) -> None:
    result = siftrag("train", "reader", "--name", "tiny-reader", "--dataset", str(STRATEGYQA), "--skip-questions",
                     "200", "--max-questions", "2", "--epochs", "4", "--lora-rank", "4", "--learning-rate", "3e-3",
                     "--top-k", "3", "--passage-words", "20", "--oracle-fraction", "1", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    training = json.loads((data_dir / "models" / "readers" / "tiny-reader" / "training.json").read_text())
    assert training["objective"] == "reader" and training["answer_format"] == "yes-no" and training["steps"] == 8
    seen = training["data"]["question_ids"]
    assert len(seen) == 2 and training["data"]["skipped_evaluation_sample"] == 200

    from core.model_loading import load_causal_lm

    examples, _ = reader_training_set(STRATEGYQA, 200, 20, 2)
    config = ReaderTraining(**training["hyperparameters"])
    generator = AnswerGenerator(MODEL, answer_format="yes-no", passage_words=20)
    sequences = [reader_sequence(generator, e, config, random.Random(7)) for e in examples]

    def loss(name: str) -> float:
        model, _ = load_causal_lm(name)
        with torch.no_grad():
            return float(weighted_lm_loss(target_logits(model, sequences), sequences))

    assert loss(f"{MODEL}+tiny-reader") < 0.7 * loss(MODEL)
    reader = AnswerGenerator("tiny-reader", max_new_tokens=48, answer_format="yes-no")
    assert reader.passage_words == 20  # the prompt it was trained on
    answered = reader.run(examples[0].question, examples[0].candidates[:3])
    assert answered["meta"]["output"].strip()
    check_unseen("tiny-reader", [QAItem("other", "q", ("yes",))])
    with pytest.raises(InvalidInputError, match="was trained on 1 of these questions"):
        check_unseen("tiny-reader", [QAItem(seen[0], "q", ("yes",))])


def test_variants_name_their_own_model_and_bad_reader_input_is_one_sentence(data_dir: Path, tmp_path: Path) -> None:
    assert parse_variant("rag@3:model=tiny").model == "tiny" and parse_variant("none:model=tiny").top_k == 0
    assert parse_variant("crag@5:model=m,clusters=2").options == (("clusters", 2),)
    with pytest.raises(InvalidInputError, match="none and rag@K take only model=NAME"):
        parse_variant("rag@3:clusters=2")
    no_gold = tmp_path / "no-gold"
    no_gold.mkdir()
    refused = siftrag("train", "reader", "--name", "x", "--dataset", str(no_gold), data_dir=data_dir)
    assert refused.returncode == 2 and "has no qrels/ folder" in refused.stderr
    free = siftrag("train", "reader", "--name", "x", "--dataset", str(STRATEGYQA), "--answer-format", "free",
                   data_dir=data_dir)
    assert free.returncode == 2 and "train a reader for one of short, yes-no" in free.stderr
    skips = siftrag("train", "reader", "--name", "x", "--dataset", str(STRATEGYQA), "--dataset", str(TWOWIKI),
                    *["--skip-questions", "1"] * 3, data_dir=data_dir)
    assert skips.returncode == 2 and "once per --dataset (2), not 3 times" in skips.stderr
    assert "Traceback" not in refused.stderr + free.stderr + skips.stderr


def test_shipped_2wiki_reader_answers_in_format_with_a_citation_and_guards_its_training_questions() -> None:
    from evals.beir_loader import read_corpus
    from indexes.bm25_index import bm25_rankings
    from indexes.document_store import indexable_text

    questions = read_questions(TWOWIKI, 301)
    reader = AnswerGenerator("reader-2wiki", max_new_tokens=128, answer_format="short")
    assert reader.passage_words == 50 and split_model_name("reader-2wiki")[0] == MODEL
    assert AnswerGenerator(answer_format="short").model == f"{MODEL}+reader-general"  # the default reader
    assert AnswerGenerator(answer_format="yes-no").model == MODEL and AnswerGenerator(MODEL).passage_words is None
    corpus = {d.id: d for d in read_corpus(TWOWIKI)}
    first = questions[0]
    top3 = bm25_rankings({i: indexable_text(d) for i, d in corpus.items()}, {first.id: first.question}, 3)[first.id]
    result = reader.run(first.question, [corpus[d] for d in top3])
    assert result["meta"]["finish_reason"] == "stop" and "So the answer is:" in result["meta"]["output"]
    assert result["documents"] and result["answer"]
    check_unseen("reader-2wiki", questions[:300])  # the evaluation sample
    with pytest.raises(InvalidInputError, match="was trained on 1 of these questions"):
        check_unseen("reader-2wiki", questions[300:301])
