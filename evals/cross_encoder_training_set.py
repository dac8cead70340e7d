"""Cross-encoder training data from BEIR (or QA) folders: each training query with its judged positives and hard
negatives mined from BM25 and dense retrieval (unjudged passages of each first stage's top-``depth``, the judged
positives excluded). Several folders pool their queries; each folder's split is checked disjoint from its
evaluation splits (:func:`evals.reranker_training_set.training_split`) before anything is retrieved."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from evals.reranker_training_set import ids_digest, training_split
from indexes.bm25_index import bm25_rankings
from indexes.dense_index import dense_rankings
from indexes.document_store import indexable_text
from rerankers.training.examples import PairedExample


def cross_encoder_training_set(datasets: list[Path], negatives: int = 7, depth: int = 30,
                               dense_model: str | None = None, split: str = "train", skip_questions: int = 200,
                               seed: int = 13) -> tuple[list[PairedExample], dict[str, Any]]:
    """(examples of every folder, a record for ``training.json``); ``dense_model`` None mines BM25 only."""
    checked = [(dataset, *training_split(dataset, split, skip_questions=skip_questions)) for dataset in datasets]
    examples, records = [], []
    rng = random.Random(seed)
    for dataset, data, corpus, judged, checks in checked:
        texts = {doc_id: indexable_text(doc) for doc_id, doc in corpus.items()}
        mined = [bm25_rankings(texts, judged, depth)]
        if dense_model:
            mined.append(dense_rankings(texts, judged, depth, dense_model))
        for query_id, query in judged.items():
            relevant = {d for d, grade in data.qrels[query_id].items() if grade > 0 and d in texts}
            pool = list(dict.fromkeys(d for ranking in mined for d in ranking[query_id] if d not in relevant))
            chosen = rng.sample(pool, min(negatives, len(pool)))
            examples.append(PairedExample(f"{dataset.name}/{query_id}", query, [texts[d] for d in sorted(relevant)],
                                          [texts[d] for d in chosen]))
        records.append({"dataset": dataset.name, "split": split, "queries": len(judged),
                        "query_ids_sha256": ids_digest(judged), **checks})
    miners = "bm25" + (f" + dense ({dense_model})" if dense_model else "")
    record = {"datasets": records, "negatives": f"{negatives} per query, sampled from the unjudged passages of "
              f"the top-{depth} of {miners}", "query_ids": sorted(e.query_id for e in examples)}
    return examples, record
