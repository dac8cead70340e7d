"""Reader training data from a QA folder: the questions after the evaluation sample (the first
``skip_questions``, which ``eval-answers --max-questions`` reads), each with its BM25 candidates from the
folder's corpus, its gold passages (qrels) and its reasoning steps: the record's ``support`` sentences (quoted
from a gold passage: the hand-written questions of ``handwritten-qa``), 2WikiMultihopQA's evidence triples ("The
director of X is Y", resting on the gold passage titled X), else the gold passages' own texts (StrategyQA's
facts). Several folders pool into one training set (a reader that is not one benchmark's template)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from haystack import Document

from core.errors import InvalidInputError
from core.jsonl import iter_json_lines
from evals.answer_runner import gold_passages
from evals.beir_loader import read_corpus
from evals.qa_dataset import gold_answer, question_id, questions_file
from indexes.bm25_index import bm25_rankings
from indexes.document_store import indexable_text
from rag.reader_training import ReaderExample


def reader_training_set(dataset: Path, skip_questions: int = 200, depth: int = 20,
                        max_questions: int | None = None) -> tuple[list[ReaderExample], dict[str, Any]]:
    """(examples, a record of the data for ``training.json``); refuses a folder without gold passages."""
    gold = gold_passages(dataset)
    if gold is None:
        raise InvalidInputError(f"{dataset} has no qrels/ folder: reader training needs each question's gold "
                                "passages.")
    path = questions_file(dataset)
    records = [(question_id(r, n), r) for n, r in iter_json_lines(path)][skip_questions:]
    records = [(q, r) for q, r in records if gold.get(q)][:max_questions]
    if not records:
        raise InvalidInputError(f"{path.name} has no question with gold passages after the first {skip_questions} "
                                "(the evaluation sample).")
    corpus = {d.id: d for d in read_corpus(dataset)}
    rankings = bm25_rankings({d: indexable_text(doc) for d, doc in corpus.items()},
                             {q: r["question"] for q, r in records}, depth)
    examples = []
    for qid, record in records:
        passages = [corpus[d] for d, grade in gold[qid].items() if grade > 0 and d in corpus]
        examples.append(ReaderExample(qid, record["question"], [corpus[d] for d in rankings[qid]], passages,
                                      reasoning_steps(record, passages), gold_answer(record)))
    ids = sorted(q for q, _ in records)
    record = {"dataset": dataset.name, "questions_file": path.name, "skipped_evaluation_sample": skip_questions,
              "questions": len(examples), "question_ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
              "candidates": f"bm25 top-{depth} over the folder's corpus",
              "steps": step_source(records)}
    return examples, record


def pooled_reader_training_set(sources: list[tuple[Path, int]], depth: int = 20, max_questions: int | None = None
                                ) -> tuple[list[ReaderExample], dict[str, Any]]:
    """The examples of several (folder, evaluation sample to skip) sources, each folder's record under
    ``datasets``; one source gives its own record. Question ids must not repeat across folders."""
    parts = [reader_training_set(folder, skip, depth, max_questions) for folder, skip in sources]
    if len(parts) == 1:
        return parts[0]
    examples = [e for part_examples, _ in parts for e in part_examples]
    ids = [e.question_id for e in examples]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("Two training folders share question ids: pool folders whose ids are distinct.")
    return examples, {"datasets": [record for _, record in parts], "questions": len(examples)}


def reasoning_steps(record: dict[str, Any], gold: list[Document]) -> list[tuple[str, str | None]]:
    """(sentence, gold passage id or None) per step: the record's ``support`` sentences, each resting on the gold
    passage that contains it; else evidence triples, each resting on the gold passage titled like its subject;
    else the gold passages' texts."""
    if record.get("support"):
        support = record["support"]
        return [(sentence, next((d.id for d in gold if sentence in (d.content or "")), None))
                for sentence in ([support] if isinstance(support, str) else support)]
    if not record.get("evidences"):
        return [(d.content or "", d.id) for d in gold if (d.content or "").strip()]
    return [(f"The {relation} of {subject} is {obj}", resting_passage(str(subject), str(obj), gold))
            for subject, relation, obj in record["evidences"]]


def step_source(records: list[tuple[str, dict[str, Any]]]) -> str:
    """What the folder's reasoning steps are made of, for the training record."""
    if any("support" in r for _, r in records):
        return "support sentences quoted from the gold passage"
    return "evidence triples" if any("evidences" in r for _, r in records) else "gold passage texts"


def resting_passage(subject: str, obj: str, gold: list[Document]) -> str | None:
    """The gold passage a triple rests on: titled like its subject ("Albert II" → "Albert II, Prince of
    Monaco"), else one whose text names both subject and object."""
    subject_l, obj_l = subject.lower(), obj.lower()
    titles = [(str(d.meta.get("title", "")).lower(), d) for d in gold]
    for matches in (lambda t, d: t == subject_l, lambda t, d: t.startswith(subject_l),
                    lambda t, d: subject_l in (d.content or "").lower() and obj_l in (d.content or "").lower()):
        found = [d.id for t, d in titles if matches(t, d)]
        if found:
            return found[0]
    return None
