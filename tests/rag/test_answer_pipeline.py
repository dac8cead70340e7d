"""The answer pipeline over a real collection (SciFact slice) with the bundled LLM."""
from __future__ import annotations

import threading

import pytest
from haystack import Document

from core.device import torch_device
from core.errors import InvalidInputError, NotFoundError, TooLargeError
from evals.qa_metrics import exact_match, token_f1
from rag.answer_formats import find_format, normalize_answer
from rag.answer_generator import AnswerGenerator
from rag.answer_pipeline import AnswerConfig, AnswerPipeline
from rag.answer_prompt import cited_numbers, unknown_citations

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
    done = events[-1]["data"]
    assert text.strip() == done["output"] == done["answer"] and done["finish_reason"] == "length"
    cancel = threading.Event()
    long = AnswerPipeline("slice", AnswerConfig(top_k=2, max_new_tokens=200)).stream(QUESTION, cancel)
    for event in long:
        if event["event"] == "token":
            cancel.set()
    assert event["event"] == "done" and event["data"]["tokens"]["generated"] < 10
    assert event["data"]["finish_reason"] == "cancelled"


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
    assert find_format("free").answer_span("Answer: The Eiffel Tower [1].\nMore text") == "The Eiffel Tower"
    assert unknown_citations("Paris [2], see also [9] and [0]", 3) == [0, 9]
    assert exact_match("the Eiffel tower!", ("Eiffel Tower",)) == 1.0
    assert token_f1("Eiffel", ("Eiffel Tower",)) == pytest.approx(2 / 3)
    assert normalize_answer("An  Apple.") == "apple"


def test_short_format_stops_at_its_answer_and_cites_the_passage():
    """The example passages asked the example question: the model writes the short format, generation stops
    at "So the answer is: …", the answer is the final span and the citations name passages given. (Which
    city the untrained 135M model names is a quality question, measured by the evaluation, not here.)"""
    documents = [Document(id="eiffel", content="The Eiffel Tower is a wrought-iron lattice tower in Paris, France, "
                          "built by Gustave Eiffel's company for the 1889 World's Fair.", meta={"title": "Eiffel Tower"}),
                 Document(id="lyon", content="Lyon is the third-largest city of France.", meta={"title": "Lyon"})]
    generator = AnswerGenerator(max_new_tokens=80, answer_format="short")
    result = generator.run(query="In which city is the tower built by Gustave Eiffel's company?", documents=documents)
    meta = result["meta"]
    assert meta["finish_reason"] == "stop" and meta["generated_tokens"] < 80, meta["output"]
    assert "So the answer is: " + result["answer"] in meta["output"] and 0 < len(result["answer"].split()) <= 3
    assert result["documents"] and {d.id for d in result["documents"]} <= {"eiffel", "lyon"}
    assert meta["unknown_citations"] == []
    assert meta["generation_engine"] == ("llama.cpp" if torch_device() == "cpu" else "transformers")
    capped = AnswerGenerator(max_new_tokens=3, answer_format="short").run(query="Where is Lyon?", documents=documents)
    assert capped["meta"]["finish_reason"] == "length" and capped["meta"]["generated_tokens"] == 3


def test_passage_words_cut_the_prompt_and_min_passages_refuses_thin_context(built_slice):
    whole = AnswerPipeline("slice", AnswerConfig(top_k=3)).prepare(QUESTION)
    cut = AnswerPipeline("slice", AnswerConfig(top_k=3, passage_words=20)).prepare(QUESTION)
    assert cut.tokens["prompt"] < whole.tokens["prompt"] - 60
    with pytest.raises(InvalidInputError, match="min_passages=1"):
        AnswerPipeline("slice", AnswerConfig(top_k=3, min_passages=1)).run("zzqxv")
    with pytest.raises(InvalidInputError, match="min_passages"):
        AnswerConfig(top_k=2, min_passages=3).check()
