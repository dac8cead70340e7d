"""TILDEv2 training data from a BEIR folder: the training split's judged queries (checked disjoint from every
evaluation split, as for the rerankers), one positive and BM25 hard negatives each, passages expanded as the
index expands them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.reranker_training_set import ids_digest, training_split
from indexes.document_store import indexable_text
from indexes.tilde.training import TrainingExample
from indexes.tilde.training_examples import training_examples
from indexes.tilde_index import load_expander


def tilde_training_set(dataset: Path, split: str = "train",
                       expansion_top_k: int = 200) -> tuple[list[TrainingExample], dict[str, Any]]:
    """(examples, a record of the data for the scorer's ``training`` metadata)."""
    data, corpus, judged, checks = training_split(dataset, split)
    texts = {doc_id: indexable_text(document) for doc_id, document in corpus.items()}
    expand = (lambda batch: load_expander(expansion_top_k).expand(batch)) if expansion_top_k > 0 else None
    examples = training_examples(texts, judged, data.qrels, expand, expansion_top_k)
    record = {"dataset": dataset.name, "split": split, "queries": len(examples),
              "query_ids_sha256": ids_digest(judged), "negatives": "bm25 top passages not judged relevant",
              **checks}
    return examples, record
