"""Training a reader adapter (RAFT, Zhang et al., 2024): LoRA on the answering LLM, trained on the answer prompt
it serves with — retrieved passages, the question, the format's demonstration — to write the format's reply:
the reasoning steps, each citing the number of the gold passage it rests on, then "So the answer is: X [n]."

Context per example: the first stage's top-k passages; on an ``oracle_fraction`` of the examples (seeded per
step) the gold passages the first stage missed replace its lowest-ranked non-gold ones, at random places, so the
model learns to read and cite evidence; on the others the context stays as retrieved and the reply cites only the
steps whose passages happen to be in it (RAFT: the model also learns to answer when retrieval fails).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haystack import Document
from pydantic import Field, field_validator

from core.errors import InvalidInputError
from core.lora_training import (
    LoraTraining,
    Progress,
    TrainingSequence,
    publish_adapter,
    run_record,
    train_lora,
    weighted_lm_loss,
)
from rag.answer_formats import ANSWER_FORMATS
from rag.answer_generator import AnswerGenerator
from rag.answer_prompt import shown_text


@dataclass
class ReaderExample:
    """A training question: ``candidates`` in first-stage order, ``gold`` the supporting passages, ``steps`` the
    reasoning as (sentence, id of the gold passage it rests on), ``answer`` the gold answer (``yes``/``no`` for
    yes/no questions)."""

    question_id: str
    question: str
    candidates: list[Document]
    gold: list[Document]
    steps: list[tuple[str, str | None]]
    answer: str


class ReaderTraining(LoraTraining):
    """Hyper-parameters of one reader training run; ``answer_format``, ``top_k`` and ``passage_words`` must be
    the ones the adapter will serve with."""

    answer_format: str = "yes-no"
    top_k: int = Field(5, ge=1, le=20, description="passages in each training prompt")
    passage_words: int | None = Field(None, ge=1, le=300)
    oracle_fraction: float = Field(0.8, ge=0, le=1, description="share of examples whose missed gold passages "
                                   "are put into the context (RAFT's P)")
    learning_rate: float = Field(5e-4, gt=0, le=1e-2)

    @field_validator("answer_format")
    @classmethod
    def _reasoning_format(cls, value: str) -> str:
        if value not in ANSWER_FORMATS or value == "free":
            raise ValueError(f"train a reader for one of {', '.join(f for f in ANSWER_FORMATS if f != 'free')}")
        return value


def shown_passages(example: ReaderExample, top_k: int, rng: random.Random,
                   oracle_fraction: float) -> list[Document]:
    """The context of one step: the top-k candidates, with the missed gold passages swapped in (at random
    places, replacing the lowest-ranked non-gold ones) on an ``oracle_fraction`` of the steps."""
    shown = list(example.candidates[:top_k])
    if rng.random() >= oracle_fraction:
        return shown
    gold_ids = {d.id for d in example.gold}
    shown_ids = {d.id for d in shown}
    for passage in [d for d in example.gold if d.id not in shown_ids][:top_k]:
        replaceable = [i for i, d in enumerate(shown) if d.id not in gold_ids]
        if not replaceable and len(shown) >= top_k:
            break
        if len(shown) >= top_k:
            shown.pop(replaceable[-1])
        shown.insert(rng.randrange(len(shown) + 1), passage)
    return shown


def reasoning_reply(example: ReaderExample, shown: list[Document]) -> str:
    """The target reply: each reasoning step, citing "[n]" when its passage is shown as n, then the answer,
    citing the last cited passage (the one the answer comes from)."""
    number = {d.id: n for n, d in enumerate(shown, start=1)}
    sentences, cited = [], []
    for text, passage_id in example.steps:
        sentence = " ".join(text.split()).rstrip(".")
        if passage_id in number:
            cited.append(number[passage_id])
            sentence += f" [{number[passage_id]}]"
        sentences.append(sentence + ".")
    final = f"So the answer is: {example.answer}" + (f" [{cited[-1]}]." if cited else ".")
    return " ".join(sentences + [final])


def reader_sequence(generator: AnswerGenerator, example: ReaderExample, config: ReaderTraining,
                    rng: random.Random) -> TrainingSequence:
    """The answer prompt over this step's context, followed by the target reply and the end-of-sequence token."""
    shown = shown_passages(example, config.top_k, rng, config.oracle_fraction)
    prompt_ids = generator.llm.encode(generator.prompt(example.question, shown))
    target = generator.llm.encode(reasoning_reply(example, shown)) + [generator.llm.tokenizer.eos_token_id]
    return TrainingSequence(prompt_ids + target, len(prompt_ids), [1.0] * len(target))


def train_reader(config: ReaderTraining, examples: list[ReaderExample], out: Path, data_record: dict[str, Any],
                 progress: Progress | None = None) -> dict[str, Any]:
    """Train, then publish the adapter folder ``out`` (adapter weights, ``training.json``); returns the record."""
    examples = usable_examples(config, examples)
    generator = AnswerGenerator(config.model, answer_format=config.answer_format,
                                passage_words=config.passage_words)
    if generator.llm.tokenizer.chat_template is None:
        raise InvalidInputError(f"Model '{config.model}' has no chat template: the answer prompts need one.")
    trained = train_lora(config, len(examples), lambda i, rng: [reader_sequence(generator, examples[i], config, rng)],
                         weighted_lm_loss, out, progress)
    record = {**run_record(config, trained), "objective": "reader", "serves": ["answer"],
              "answer_format": config.answer_format, "top_k": config.top_k, "passage_words": config.passage_words,
              "data": {**data_record, "examples_used": len(examples),
                       "question_ids": sorted(e.question_id for e in examples)}}
    publish_adapter(trained, record, out)
    return record


def quotes_are_shown(example: ReaderExample, passage_words: int | None) -> bool:
    """Whether every sentence quoted from within its gold passage lies in the part of it the prompt shows (a reply
    must not quote what the model cannot read); other steps (evidence triples, StrategyQA's whole facts) pass."""
    gold = {d.id: d for d in example.gold}
    for sentence, passage_id in example.steps:
        if passage_id not in gold:
            continue
        sentence, passage = " ".join(sentence.split()), " ".join((gold[passage_id].content or "").split())
        if sentence != passage and sentence in passage \
                and sentence not in " ".join(shown_text(gold[passage_id], passage_words).split()):
            return False
    return True


def usable_examples(config: ReaderTraining, examples: list[ReaderExample]) -> list[ReaderExample]:
    """Examples with gold passages, reasoning steps, an answer the format can state (yes/no for ``yes-no``) and their
    quotes within the shown words (``quotes_are_shown``), in a seeded order, cut to ``max_examples``."""
    kept = [e for e in examples if e.gold and e.steps and e.answer.strip()
            and (config.answer_format != "yes-no" or e.answer in ("yes", "no"))
            and quotes_are_shown(e, config.passage_words)]
    if not kept:
        raise InvalidInputError(f"No training question has a gold passage, a {config.answer_format} answer and its "
                                f"quoted sentences within the words the prompt shows (passage_words {config.passage_words}).")
    random.Random(config.seed).shuffle(kept)
    return kept[:config.max_examples] if config.max_examples else kept

