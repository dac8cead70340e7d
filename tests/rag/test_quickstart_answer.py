"""The quick-start's question, asked of the quick-start collection (the whole bundled SciFact sample) exactly as
`siftrag quickstart` asks it: the answer is known, the passages it was given say so, and it cites passages it was
given. (Which of them the 135M reader cites flips with rounding: on transformers it cited a supporting abstract, on
llama.cpp it cites two neighbours, one on vitamin D and one on fractures — docs/generation.md.)"""
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
    assert result["citations"], result["output"]
    shown = [f"{p['title'] or ''}\n{p['content']}".lower() for p in result["passages"]]  # as the prompt shows them
    assert any("vitamin d" in text and "fracture" in text for text in shown)
