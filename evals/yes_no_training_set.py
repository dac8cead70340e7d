"""Yes/no head training data from a QA folder: the yes/no questions after the evaluation sample (the first
``skip_questions``, which ``eval-answers --max-questions`` reads), each as the ``yes-no`` answer prompt over its
BM25 top-k passages (what ``/v1/answer`` serves) plus "So the answer is:", with its gold answer."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from core.errors import InvalidInputError
from evals.dataset_collection import ensure_dataset_collection
from evals.qa_dataset import QAItem, read_questions
from indexes.retriever import collection_manager
from rag.answer_generator import AnswerGenerator
from rag.yes_no_head import DECISION

MIN_PER_ANSWER = 10  # the head's 5-fold cross-validation needs both answers in every fold, with room to spare


def yes_no_questions(dataset: Path, skip_questions: int = 200, max_questions: int | None = None) -> list[QAItem]:
    """The yes/no questions after the first ``skip_questions`` (at most ``max_questions``); refuses too few."""
    questions = [q for q in read_questions(dataset)[skip_questions:] if q.answers[0] in ("yes", "no")]
    questions = questions[:max_questions]
    yes = sum(q.answers[0] == "yes" for q in questions)
    if min(yes, len(questions) - yes) < MIN_PER_ANSWER:
        raise InvalidInputError(f"{dataset.name} has {yes} 'yes' and {len(questions) - yes} 'no' questions after "
                                f"the first {skip_questions} (the evaluation sample): a yes/no head needs at least "
                                f"{MIN_PER_ANSWER} of each.")
    return questions


def decision_prompts(generator: AnswerGenerator, questions: list[QAItem],
                     search: Callable[[str, Sequence[str], int], list[list[Document]]] | None, top_k: int) -> list[str]:
    """Each question's ``yes-no`` answer prompt over its BM25 top-k passages (none for 0), then ``DECISION``;
    ``search`` is a collection's, called once for all questions."""
    passages = search("bm25", [q.question for q in questions], top_k) if top_k else [[] for _ in questions]
    return [generator.prompt(q.question, hits) + DECISION for q, hits in zip(questions, passages)]


def yes_no_training_set(dataset: Path, generator: AnswerGenerator, top_k: int, skip_questions: int = 200,
                        max_questions: int | None = None) -> tuple[list[str], np.ndarray, dict[str, Any]]:
    """(decision prompts, gold yes = True, a record of the data for ``training.json``)."""
    questions = yes_no_questions(dataset, skip_questions, max_questions)
    gold = np.array([q.answers[0] == "yes" for q in questions])
    search = ensure_dataset_collection(collection_manager(), dataset, ["bm25"]).search if top_k else None
    prompts = decision_prompts(generator, questions, search, top_k)
    ids = sorted(q.id for q in questions)
    record = {"dataset": dataset.name, "skipped_evaluation_sample": skip_questions, "questions": len(questions),
              "question_ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(), "question_ids": ids,
              "passages": f"bm25 top-{top_k} over the folder's corpus" if top_k else "none (closed-book)"}
    return prompts, gold, record
