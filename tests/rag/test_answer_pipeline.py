"""The answer pipeline over a real collection (SciFact slice) with the bundled LLM."""
from __future__ import annotations

import threading

import pytest

from core.errors import InvalidInputError, NotFoundError, TooLargeError
from evals.qa_metrics import exact_match, normalize_answer, token_f1
from rag.answer_pipeline import AnswerConfig, AnswerPipeline
from rag.answer_prompt import cited_numbers, short_answer

QUESTION = "Does vitamin D deficiency affect bone health?"


def test_answer_reads_the_retrieved_passages_and_reports_every_stage(built_slice):
    result = AnswerPipeline("slice", AnswerConfig(top_k=3, max_new_tokens=16)).run(QUESTION)
    assert result["answer"] and len(result["passages"]) == 3
    assert set(result["timings_ms"]) == {"retrieve", "generate", "total"}
    tokens = result["tokens"]
    assert tokens["context"] == tokens["retrieved_context"] > 0 and tokens["prompt"] > tokens["context"]
    assert 0 < tokens["generated"] <= 16
    assert {c["id"] for c in result["citations"]} <= {p["id"] for p in result["passages"]}


def test_closed_book_answer_retrieves_nothing(built_slice):
    result = AnswerPipeline("slice", AnswerConfig(top_k=0, max_new_tokens=8)).run(QUESTION)
    assert result["passages"] == [] and "retrieve" not in result["timings_ms"]
    assert result["tokens"]["context"] == 0


def test_compressed_answer_reads_fewer_tokens(built_slice):
    plain = AnswerPipeline("slice", AnswerConfig(top_k=3, max_new_tokens=4)).prepare(QUESTION)
    pipeline = AnswerPipeline("slice", AnswerConfig(top_k=3, max_new_tokens=4, compressor="tcra-semantic",
                                                    compressor_options=(("ratio", 0.7),)))
    compressed = pipeline.prepare(QUESTION)
    assert compressed.tokens["retrieved_context"] == plain.tokens["context"]
    assert compressed.tokens["context"] < plain.tokens["context"]
    assert compressed.compression["compression_ratio"] < 1 and "compress" in compressed.timings_ms


def test_streamed_tokens_make_the_answer_and_cancel_stops_early(built_slice):
    pipeline = AnswerPipeline("slice", AnswerConfig(top_k=2, max_new_tokens=12))
    events = list(pipeline.stream(QUESTION, threading.Event()))
    assert events[0]["event"] == "context" and events[-1]["event"] == "done"
    text = "".join(e["data"]["text"] for e in events if e["event"] == "token")
    assert text.strip() == events[-1]["data"]["answer"]
    cancel = threading.Event()
    long = AnswerPipeline("slice", AnswerConfig(top_k=2, max_new_tokens=200)).stream(QUESTION, cancel)
    for event in long:
        if event["event"] == "token":
            cancel.set()
    assert event["event"] == "done" and event["data"]["tokens"]["generated"] < 10


def test_bad_requests_are_clear_errors(built_slice):
    with pytest.raises(InvalidInputError, match="non-empty"):
        AnswerPipeline("slice").run("   ")
    with pytest.raises(NotFoundError):
        AnswerPipeline("no-such-collection").run(QUESTION)
    with pytest.raises(TooLargeError, match="compress"):
        AnswerPipeline("slice", AnswerConfig(top_k=100)).run(QUESTION)
    with pytest.raises(InvalidInputError):
        AnswerConfig(compressor="crag", compressor_options=(("clusters", 3),)).check()


def test_citations_and_short_answers_are_parsed():
    assert cited_numbers("Paris [2], see also [9] and [2] [1]", 3) == [2, 1]
    assert short_answer("Answer: The Eiffel Tower [1].\nMore text") == "The Eiffel Tower"
    assert exact_match("the Eiffel tower!", ("Eiffel Tower",)) == 1.0
    assert token_f1("Eiffel", ("Eiffel Tower",)) == pytest.approx(2 / 3)
    assert normalize_answer("An  Apple.") == "apple"
