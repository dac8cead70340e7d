"""LLM rerankers with the real bundled model: mechanism, cost accounting, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from haystack import Document, Pipeline

from core.errors import InvalidInputError
from rerankers.icr import calibrated_document_scores, parse_layers
from rerankers.identifiers import single_token_identifiers
from rerankers.permutation import parse_permutation
from rerankers.registry import make_reranker
from rerankers.score_fusion import with_first_stage
from rerankers.sliding_window import apply_window, windows

MODEL = "smollm2-135m-instruct"
CASES = {
    "atp": ("Which organelle produces ATP in cells?", [
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.",
        "Photosynthesis converts light energy into chemical energy in plants.",
        "The mitochondrion is the organelle that produces ATP in cells.",
        "Mount Everest is the highest mountain above sea level, in the Himalayas.",
        "The Great Wall of China was built over centuries to protect against invasions."], "2"),
    "paris": ("What is the capital of France?", [
        "Bananas are rich in potassium and grow in tropical climates.",
        "The stock market closed higher on Tuesday after strong earnings.",
        "Jupiter is the largest planet in the solar system.",
        "Paris is the capital of France and its largest city.",
        "Football is the most popular sport in the world."], "3"),
}
SMALL_MODEL_CANNOT_RANK = pytest.mark.xfail(
    strict=True, reason="SmolLM2-135M is not ranking-trained: its first identifier logits and its generated "
    "permutations follow passage position, not relevance (see the closing note); a ranking-trained model passes")


def _docs(texts: list[str]) -> list[Document]:
    return [Document(id=str(i), content=text) for i, text in enumerate(texts)]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", [
    "icr",
    pytest.param("first", marks=SMALL_MODEL_CANNOT_RANK),
    pytest.param("fullrank", marks=SMALL_MODEL_CANNOT_RANK),
    pytest.param("fullrank-logits", marks=SMALL_MODEL_CANNOT_RANK),
])
def test_answer_passage_ranks_first(method: str, case: str) -> None:
    query, texts, answer = CASES[case]
    result = make_reranker(method, model=MODEL).run(query=query, documents=_docs(texts), top_k=5)
    assert result["documents"][0].id == answer, [d.id for d in result["documents"]]


def test_identifiers_are_single_tokens() -> None:
    from core.llm_backend import get_llm

    tokenizer = get_llm(MODEL).tokenizer
    identifiers = single_token_identifiers(tokenizer, 40)
    assert identifiers.labels[:3] == ("A", "B", "C") and identifiers.primer == "["
    for label, token in zip(identifiers.labels, identifiers.token_ids):
        assert tokenizer.encode(f"[{label}]", add_special_tokens=False)[1:2] == [token]
        assert tokenizer.decode([token]) == label
    with pytest.raises(InvalidInputError, match="single-token identifiers"):
        single_token_identifiers(tokenizer, 10_000)


def test_sliding_windows_back_to_front() -> None:
    assert windows(100, 20, 10) == [(80, 100), (70, 90), (60, 80), (50, 70), (40, 60), (30, 50), (20, 40),
                                    (10, 30), (0, 20)]
    assert windows(20, 20, 10) == [(0, 20)]
    assert windows(8, 20, 10) == [(0, 8)]
    assert apply_window([0, 1, 2, 3, 4], 2, [2, 0, 1]) == [0, 1, 4, 2, 3]


def test_permutation_parsing_is_robust() -> None:
    labels = ["A", "B", "C", "D"]
    assert parse_permutation("[C] > [A] > [C] > [Z] > [B]", labels) == [2, 0, 1, 3]
    assert parse_permutation("I cannot rank these.", labels) == [0, 1, 2, 3]


def test_first_is_one_forward_per_window_and_follows_identifier_logits() -> None:
    query, texts, _ = CASES["atp"]
    reranker = make_reranker("first", model=MODEL, window=4, stride=2)
    result = reranker.run(query=query, documents=_docs(texts), top_k=5)
    assert result["meta"]["forward_passes"] == len(windows(5, 4, 2)) == 2
    assert result["meta"]["generated_tokens"] == 0
    single = make_reranker("first", model=MODEL, window=20)
    prompt, identifiers = single.prompt(query, _docs(texts), primed=True)
    assert prompt.endswith("assistant\n[")
    scores = single.llm.next_token_logprobs([prompt])[0][torch.tensor(identifiers.token_ids)]
    expected = sorted(range(5), key=lambda i: (-float(scores[i]), i))
    assert [d.id for d in single.run(query=query, documents=_docs(texts), top_k=5)["documents"]] == [str(i) for i in expected]


def test_generation_listwise_generates_and_costs_more() -> None:
    query, texts, _ = CASES["paris"]
    first = make_reranker("first", model=MODEL).run(query=query, documents=_docs(texts))["meta"]
    listwise = make_reranker("listwise", model=MODEL).run(query=query, documents=_docs(texts))["meta"]
    assert listwise["generated_tokens"] > 5 and listwise["forward_passes"] > first["forward_passes"]


def test_icr_needs_two_query_passes_whatever_the_number_of_documents() -> None:
    query, texts, _ = CASES["atp"]
    icr = make_reranker("icr", model=MODEL)
    small = icr.run(query=query, documents=_docs(texts))["meta"]
    large = icr.run(query=query, documents=_docs(texts * 3))["meta"]
    assert small["forward_passes"] == large["forward_passes"] == 3  # shared prefix + query + "N/A"
    assert large["prompt_tokens"] > 2 * small["prompt_tokens"]


def test_icr_calibration_and_masking() -> None:
    a_query = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, -9.0, 2.0, 3.0])
    a_na = torch.zeros(12)
    scores = calibrated_document_scores(a_query, a_na, [(0, 10), (10, 12)])
    assert scores[0] == pytest.approx(4.5)  # the -9 outlier is below mean - 2 std and masked
    assert scores[1] == pytest.approx(5.0)
    assert list(parse_layers("10:20", 30)) == list(range(10, 20))
    with pytest.raises(InvalidInputError):
        parse_layers("5:5", 30)


def test_pointwise_interpolates_with_the_first_stage() -> None:
    query, texts, _ = CASES["atp"]
    documents = [Document(id=d.id, content=d.content, score=float(10 - 2 * i)) for i, d in enumerate(_docs(texts))]
    alone = make_reranker("pointwise", model=MODEL, top_k=5).run(query=query, documents=documents)["documents"]
    kept = make_reranker("pointwise", model=MODEL, top_k=5, first_stage_weight=1.0).run(query=query,
                                                                                        documents=documents)
    assert [d.id for d in kept["documents"]] == [d.id for d in documents]  # weight 1: the first-stage order
    half = make_reranker("pointwise", model=MODEL, top_k=5, first_stage_weight=0.5).run(query=query,
                                                                                        documents=documents)
    llm = {d.id: d.score for d in alone}
    low, high = min(llm.values()), max(llm.values())
    expected = {d.id: 0.5 * (llm[d.id] - low) / (high - low) + 0.5 * (d.score - 2) / 8 for d in documents}
    assert {d.id: d.score for d in half["documents"]} == pytest.approx(expected, abs=1e-5)
    assert [d.id for d in half["documents"]] == sorted(expected, key=lambda i: -expected[i])
    with pytest.raises(InvalidInputError, match="first_stage_weight"):
        make_reranker("pointwise", model=MODEL, first_stage_weight=-0.1)
    extreme = [Document(id=str(i), content="x", score=s) for i, s in enumerate([1e308, -1e308, 0.0])]
    assert with_first_stage(np.array([0.1, 0.2, 0.3]), extreme, 0.5) == pytest.approx([0.5, 0.25, 0.75])
    with pytest.raises(InvalidInputError, match="finite"):
        with_first_stage(np.array([0.1, 0.2]), [Document(content="x", score=float("nan"))] * 2, 0.5)


def test_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="No candidate"):
        make_reranker("icr", model=MODEL).run(query="x", documents=[])
    with pytest.raises(InvalidInputError, match="Unknown rerank method"):
        make_reranker("oracle")
    with pytest.raises(InvalidInputError, match="non-empty"):
        make_reranker("first", model=MODEL).run(query=" ", documents=_docs(["a"]))
    long_docs = _docs([" ".join(["word"] * 400)] * 30)
    with pytest.raises(InvalidInputError, match="tokens but"):
        make_reranker("fullrank-logits", model=MODEL, passage_words=400).run(query="word", documents=long_docs)


def test_reranker_in_a_haystack_pipeline_round_trip(built_slice) -> None:
    from indexes.retriever import SiftragRetriever
    from rerankers.icr import ICRReranker

    pipeline = Pipeline()
    pipeline.add_component("retriever", SiftragRetriever("slice", "bm25", top_k=5))
    pipeline.add_component("reranker", ICRReranker(model=MODEL, top_k=3, passage_words=50))
    pipeline.connect("retriever.documents", "reranker.documents")
    restored = Pipeline.loads(pipeline.dumps(), allowed_modules=["indexes", "rerankers"])
    query = "vitamin D and bone fractures"
    output = restored.run({"retriever": {"query": query}, "reranker": {"query": query}})
    assert len(output["reranker"]["documents"]) == 3
    assert output["reranker"]["meta"]["forward_passes"] == 3


def test_llm_rerankers_and_compressors_connect_onward_in_a_haystack_pipeline(built_slice) -> None:
    """Outputs are declared on the shared ``run`` of the LLM rerankers and the compressors, so their
    ``documents`` can feed the next component."""
    from indexes.retriever import SiftragRetriever
    from rag.answer_generator import AnswerGenerator
    from rag.compressors.tcra_semantic import SemanticCompressor
    from rerankers.first import FirstReranker

    pipeline = Pipeline()
    pipeline.add_component("retriever", SiftragRetriever("slice", "bm25", top_k=4))
    pipeline.add_component("first", FirstReranker(model=MODEL, top_k=3, passage_words=30))
    pipeline.add_component("compress", SemanticCompressor(ratio=0.8))
    pipeline.add_component("answer", AnswerGenerator(MODEL, max_new_tokens=4))
    pipeline.connect("retriever.documents", "first.documents")
    pipeline.connect("first.documents", "compress.documents")
    pipeline.connect("compress.documents", "answer.documents")
    query = "vitamin D and bone fractures"
    output = pipeline.run({"retriever": {"query": query}, "first": {"query": query}, "compress": {"query": query},
                           "answer": {"query": query}})
    assert output["answer"]["meta"]["generated_tokens"] == 4 and output["answer"]["meta"]["finish_reason"] == "length"
    assert output["first"]["meta"]["forward_passes"] == 1 and output["compress"]["meta"]["compression_ratio"] < 1
