"""Reranker training data from a BEIR folder: the training split's queries, their BM25 top-k candidates
(judged positives the first stage missed replace its last candidates), and the teacher order: judged
positives first, then the first stage's order (``teacher="labels"``) or the order of the embedding reranker fused
with BM25 over the candidates (``teacher="embedding"``: SciFact train nDCG@10 0.7368 vs BM25's 0.6945, the best
cheap teacher; its cosines are read from the shared embedding cache when a dense build filled it). Refuses a split
that shares a query with any other split of the folder (those are the evaluation splits). A QA folder (StrategyQA:
questions, their facts as qrels) trains on its ``train`` qrels only, minus the first ``skip_questions`` questions,
which ``eval-answers`` reads."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, get_args

from haystack import Document

from core.errors import InvalidInputError
from evals.beir_loader import BeirDataset, load_beir, read_corpus, read_qrels_tsv
from evals.qa_dataset import is_qa_folder, read_questions
from indexes.bm25_index import bm25_rankings
from indexes.document_store import indexable_text
from rerankers.embedding_reranker import FIRST_STAGE_WEIGHT, EmbeddingReranker
from rerankers.training.examples import RankingExample

Teacher = Literal["labels", "embedding"]
TEACHERS: tuple[str, ...] = get_args(Teacher)
TEACHER_ORDERS = {"labels": "judged positives first (first-stage order), then the first-stage order",
                  "embedding": "judged positives first, then the embedding reranker's order (MiniLM cosine fused "
                               f"with BM25 over the candidates, weight {FIRST_STAGE_WEIGHT}), each group in that order"}


def reranker_training_set(dataset: Path, split: str = "train", depth: int = 20, min_queries: int = 1,
                          skip_questions: int = 200, teacher: Teacher = "labels") -> tuple[
        list[RankingExample], dict[str, Any]]:
    """(examples, a record of the data for ``training.json``)."""
    check_teacher(teacher)
    data, corpus, judged, checks = training_split(dataset, split, min_queries, skip_questions)
    rankings = bm25_rankings({d: indexable_text(doc) for d, doc in corpus.items()}, judged, depth)
    examples = [training_example(q, text, rankings[q], data.qrels[q], corpus, depth) for q, text in judged.items()]
    if teacher == "embedding":
        examples = [with_embedding_teacher(example) for example in examples]
    record = {"dataset": dataset.name, "split": split, "queries": len(examples),
              "query_ids_sha256": ids_digest(judged), "candidates": f"bm25 top-{depth}, missed positives "
              "replace the last candidates", "teacher": TEACHER_ORDERS[teacher], **checks}
    return examples, record


def check_teacher(teacher: str) -> None:
    """InvalidInputError unless ``teacher`` is one of ``TEACHERS``."""
    if teacher not in TEACHERS:
        raise InvalidInputError(f"Unknown teacher '{teacher}': one of {', '.join(TEACHERS)}.")


def with_embedding_teacher(example: RankingExample) -> RankingExample:
    """``example`` with its teacher order: judged positives first, then the rest, each group ranked by the embedding
    reranker over the example's candidates (inline: fused with BM25 computed over them)."""
    documents = [Document(id=str(i), content=indexable_text(d)) for i, d in enumerate(example.documents)]
    ranked = EmbeddingReranker().run(query=example.query, documents=documents, top_k=len(documents))["documents"]
    order = [int(d.id) for d in ranked]
    relevant = [i for i in order if example.documents[i].id in example.relevant]
    return RankingExample(example.query_id, example.query, example.documents, example.relevant,
                          relevant + [i for i in order if i not in relevant])


def training_split(dataset: Path, split: str, min_queries: int = 1, skip_questions: int = 200) -> tuple[
        BeirDataset, dict[str, Document], dict[str, str], dict[str, Any]]:
    """(the split, the corpus by id, its judged queries minus repeated evaluation texts, a record of the checks);
    every refusal (leak, too few judged queries) happens here, before any candidate is retrieved."""
    if is_qa_folder(dataset) and (split != "train" or not any((dataset / "qrels").glob("train.tsv*"))):
        raise InvalidInputError(f"{dataset.name} is a QA folder: rerankers train on its 'train' qrels "
                                f"(qrels/train.tsv) only, which it {'has' if split != 'train' else 'lacks'}; other "
                                "gold passages are an evaluation sample.")
    data = load_beir(dataset, split)
    evaluation, repeated = check_disjoint(dataset, split, data.queries)
    sample = answer_evaluation_sample(dataset, data.queries, skip_questions)
    corpus = {d.id: d for d in read_corpus(dataset)}
    judged = {q: text for q, text in data.queries.items() if q not in repeated and q not in sample
              and any(g > 0 and d in corpus for d, g in data.qrels.get(q, {}).items())}
    if len(judged) < min_queries:
        raise InvalidInputError(f"Split '{split}' of {dataset} has {len(judged)} queries with a judged relevant "
                                f"passage in the corpus; at least {min_queries} are needed.")
    checks = {"checked_disjoint_from": evaluation, "dropped_same_text_as_evaluation": sorted(repeated)}
    if is_qa_folder(dataset):
        checks["dropped_answer_evaluation_sample"] = f"the first {skip_questions} questions ({len(sample)} ids)"
    return data, corpus, judged, checks


def answer_evaluation_sample(dataset: Path, queries: dict[str, str], skip_questions: int) -> set[str]:
    """In a QA folder, the ids of ``queries`` that are, or repeat the text of, one of the first ``skip_questions``
    questions (the sample ``eval-answers`` reads); elsewhere none."""
    if not is_qa_folder(dataset):
        return set()
    sample = read_questions(dataset, skip_questions) if skip_questions else []
    texts = {normalized(q.question) for q in sample}
    return {q.id for q in sample} | {q for q, text in queries.items() if normalized(text) in texts}


def check_disjoint(dataset: Path, split: str, queries: dict[str, str]) -> tuple[dict[str, int], set[str]]:
    """(query count of every other split, training ids whose text an evaluation query repeats).

    A query id shared with another split is an error; a repeated text under another id is dropped."""
    others, repeated = {}, set()
    for path in sorted((dataset / "qrels").glob("*.tsv*")):
        other = path.name.split(".")[0]
        if other == split:
            continue
        other_ids = set(read_qrels_tsv(path))
        shared = sorted(set(queries) & other_ids)
        if shared:
            raise InvalidInputError(f"Training split '{split}' leaks {len(shared)} queries of evaluation split "
                                    f"'{other}' (e.g. {shared[0]}): training never sees an evaluation query.")
        texts = {normalized(t) for t in load_beir(dataset, other).queries.values()}
        repeated |= {q for q, t in queries.items() if normalized(t) in texts}
        others[other] = len(other_ids)
    return others, repeated


def normalized(text: str) -> str:
    return " ".join(text.lower().split())


def training_example(query_id: str, query: str, ranked: list[str], qrels: dict[str, int],
                     corpus: dict[str, Any], depth: int) -> RankingExample:
    relevant = {d for d, g in qrels.items() if g > 0 and d in corpus}
    top = ranked[:depth]
    missed = sorted(d for d in relevant if d not in top)[:depth // 2]
    negatives_allowed = depth - len(missed) - sum(d in relevant for d in top)
    candidates = []
    for doc_id in top:
        if doc_id in relevant or negatives_allowed > 0:
            negatives_allowed -= doc_id not in relevant
            candidates.append(doc_id)
    candidates += missed
    teacher = sorted(range(len(candidates)), key=lambda i: (candidates[i] not in relevant, i))
    return RankingExample(query_id, query, [corpus[d] for d in candidates], relevant, teacher)


def ids_digest(ids: Any) -> str:
    """sha256 of the sorted ids, one per line (what ``training.json`` records of the training queries)."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
