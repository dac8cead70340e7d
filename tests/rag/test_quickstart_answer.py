"""The quick-start's question, asked of the quick-start collection (the whole bundled SciFact sample) exactly as
`siftrag quickstart` asks it: the answer is known, and it must cite a passage that says so."""
from __future__ import annotations

from pathlib import Path

from cli import QUICKSTART_ANSWER, QUICKSTART_QUESTION
from rag.answer_formats import normalize_answer
from rag.answer_pipeline import AnswerConfig, AnswerPipeline
from tests.conftest import SCIFACT


def test_the_quick_start_question_gets_its_known_answer_with_a_supporting_citation(data_dir: Path) -> None:
    from evals.dataset_collection import collection_name_for, ensure_dataset_collection
    from indexes.retriever import collection_manager

    ensure_dataset_collection(collection_manager(), SCIFACT, ["bm25", "dense"])
    pipeline = AnswerPipeline(collection_name_for(SCIFACT), AnswerConfig(**QUICKSTART_ANSWER))
    result = pipeline.run(QUICKSTART_QUESTION)
    assert pipeline.generator.model.endswith("+reader-2wiki")  # the default reader of the `short` format
    assert normalize_answer(result["answer"]) == "vitamin d", result["output"]
    assert result["finish_reason"] == "stop" and result["unknown_citations"] == []
    supporting = [c for c in result["citations"]
                  if "vitamin d" in c["content"].lower() and "fracture" in c["content"].lower()]
    assert supporting, result["citations"]
