"""Every reranker and compressor in a Haystack pipeline: warm_up, sockets, YAML round trip, allow-list, and the
API's defaults when built with no arguments."""
from __future__ import annotations

from typing import Any

import pytest
from haystack import Document, Pipeline, component
from haystack.core.errors import DeserializationError

from core.lazy_class import import_class
from core.llm_backend import LLM_CACHE
from core.model_cache import load_counts
from indexes.encoder import get_encoder
from indexes.retriever import SiftragRetriever
from indexes.tilde_index import load_expander, load_scorer
from rag.compressors.registry import COMPRESSORS, make_compressor
from rerankers.cross_encoder import loaded_cross_encoder
from rerankers.cross_encoder_models import any_cross_encoder
from rerankers.registry import (
    LLM_METHODS,
    METHODS,
    default_adapter,
    make_reranker,
    method_spec,
    shared_reranker,
)

MODEL = "smollm2-135m-instruct"
QUERY = "vitamin D and bone fractures"
ALLOWED = ["indexes", "rerankers", "rag", __name__]
LOADERS = {"encoder": get_encoder, "tilde-scorer": load_scorer, "tilde-expander": load_expander,
           "cross-encoder": loaded_cross_encoder}  # lru caches; the LLM's is core.model_cache's
COMPRESSOR_OPTIONS = {"tcra-summary": {"ratio": 0.3}, "tcra-semantic": {"ratio": 0.8},
                      "crag": {"max_clusters": 2, "summary_tokens": 16, "passage_words": 30}}
# each reranker once and each compressor at least once (tcra-semantic, the slowest on CPU, once)
COMPRESSOR_AFTER = {"first": "tcra-summary", "listwise": "crag", "icr": "tcra-summary", "fullrank": "crag",
                    "fullrank-logits": "tcra-summary", "pointwise": "crag", "embedding": "tcra-semantic",
                    "tilde": "crag", "cross-encoder": "tcra-summary"}
PAIRS = [(method, COMPRESSOR_AFTER[method]) for method in METHODS]


@component
class DocumentSink:
    """Collects the documents and meta it receives (a stand-in for whatever a user's pipeline does next)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[Document], dict[str, Any]]] = []

    @component.output_types(ids=list[str])
    def run(self, documents: list[Document], meta: dict) -> dict[str, Any]:
        self.received.append((documents, meta))
        return {"ids": [d.id for d in documents]}


def _reranker(method: str) -> Any:
    if method in LLM_METHODS:
        return make_reranker(method, model=MODEL, top_k=3, passage_words=30)
    if method == "tilde":  # the slice has no tilde index: the shipped scorer, candidates expanded inline
        return make_reranker("tilde", collection="slice", top_k=3)
    if method == "cross-encoder":  # none ships: the one the cross_encoder_model fixture trained
        return make_reranker(method, model="ce-fixture", top_k=3)
    return make_reranker(method, top_k=3)


def _pipeline(method: str, compressor: str) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("retriever", SiftragRetriever("slice", "bm25", top_k=4))
    pipeline.add_component("reranker", _reranker(method))
    pipeline.add_component("compressor",
                           make_compressor(compressor, model=MODEL, **COMPRESSOR_OPTIONS[compressor]))
    pipeline.add_component("sink", DocumentSink())
    pipeline.connect("retriever.documents", "reranker.documents")
    pipeline.connect("reranker.documents", "compressor.documents")
    pipeline.connect("compressor.documents", "sink.documents")
    pipeline.connect("compressor.meta", "sink.meta")
    return pipeline


def _loads() -> dict[str, int]:
    return {"llm": load_counts().get("llm", 0)} | {name: loader.cache_info().misses for name, loader in LOADERS.items()}


def _expected_loads(method: str, compressor: str) -> set[str]:
    reranker = {"embedding": {"encoder"}, "tilde": {"tilde-scorer", "tilde-expander"},
                "cross-encoder": {"cross-encoder"}}.get(method, {"llm"})
    return reranker | {"llm"} | ({"encoder"} if compressor in ("tcra-semantic", "crag") else set())


@pytest.fixture
def cold_models():
    """Empty the model loaders' caches, so a test sees what warm_up loads."""
    for loader in LOADERS.values():
        loader.cache_clear()
    LLM_CACHE.clear()


def _run(pipeline: Pipeline) -> tuple[list[str], list[Document], dict[str, Any], dict[str, Any]]:
    """(reranked ids, documents and meta the sink received, the reranker's meta) for one run of QUERY."""
    output = pipeline.run({"query": QUERY}, include_outputs_from={"reranker"})
    documents, meta = pipeline.get_component("sink").received[-1]
    assert output["sink"]["ids"] == [d.id for d in documents]
    return [d.id for d in output["reranker"]["documents"]], documents, meta, output["reranker"]["meta"]


def test_every_reranker_and_compressor_is_covered() -> None:
    assert [method for method, _ in PAIRS] == list(METHODS) and {c for _, c in PAIRS} == set(COMPRESSORS)


@pytest.mark.parametrize("method, compressor", PAIRS)
def test_retriever_reranker_compressor_pipeline_warms_up_runs_and_round_trips_yaml(
        built_slice, cross_encoder_model, cold_models, method: str, compressor: str) -> None:
    pipeline = _pipeline(method, compressor)
    cold = _loads()
    pipeline.warm_up()
    warm = _loads()
    assert {name for name in warm if warm[name] > cold[name]} == _expected_loads(method, compressor)
    pipeline.warm_up()
    assert _loads() == warm, "warm_up is idempotent"

    reranked, documents, meta, reranker_meta = _run(pipeline)
    assert _loads() == warm, "run loads nothing warm_up did not"
    assert len(reranked) == 3 and len(set(reranked)) == 3
    assert reranker_meta["latency_ms"] >= 0 and reranker_meta["forward_passes"] >= 1
    assert documents and all(d.content for d in documents)
    assert {i for d in documents for i in d.meta.get("source_ids", [d.id])} <= set(reranked)
    assert meta["method"] == compressor and meta["model"] == MODEL
    assert meta["tokens_in"] > 0 and 0 < meta["compression_ratio"] < 1

    yaml_text = pipeline.dumps()
    restored = Pipeline.loads(yaml_text, allowed_modules=ALLOWED)
    for name in ("retriever", "reranker", "compressor"):
        assert restored.get_component(name).to_dict() == pipeline.get_component(name).to_dict()
    again, restored_documents, restored_meta, _ = _run(restored)
    assert again == reranked
    assert [d.id for d in restored_documents] == [d.id for d in documents]
    assert restored_meta["method"] == compressor
    assert _loads() == warm, "the restored components share the loaded models"


def test_yaml_loading_is_limited_to_the_allow_list(built_slice, monkeypatch) -> None:
    """Haystack refuses classes from modules outside its allow-list (its own packages); ours are added per
    call (``allowed_modules``) or process-wide (``HAYSTACK_DESERIALIZATION_ALLOWLIST``)."""
    monkeypatch.delenv("HAYSTACK_DESERIALIZATION_ALLOWLIST", raising=False)
    yaml_text = _pipeline("embedding", "tcra-semantic").dumps()
    with pytest.raises(DeserializationError, match="not on the trusted-module allowlist"):
        Pipeline.loads(yaml_text)
    with pytest.raises(DeserializationError, match=f"'{__name__}'"):
        Pipeline.loads(yaml_text, allowed_modules=["indexes", "rerankers", "rag"])
    assert Pipeline.loads(yaml_text, allowed_modules=ALLOWED).get_component("sink").received == []

    monkeypatch.setenv("HAYSTACK_DESERIALIZATION_ALLOWLIST", "indexes.*,rerankers.*,rag.*")
    with pytest.raises(DeserializationError, match=f"'{__name__}'"):
        Pipeline.loads(yaml_text)
    monkeypatch.setenv("HAYSTACK_DESERIALIZATION_ALLOWLIST", f"indexes.*,rerankers.*,rag.*,{__name__}")
    assert isinstance(Pipeline.loads(yaml_text).get_component("reranker"), type(_reranker("embedding")))


def _no_argument_reranker(method: str) -> Any:
    """The method's component built as a user would in a pipeline: no arguments but the ones the method names
    (full ranking's mode) and the collection the API passes to ``tilde``."""
    spec = method_spec(method)
    return import_class(spec.component)(**spec.fixed, **({"collection": "slice"} if spec.index_kinds else {}))


@pytest.mark.parametrize("method", METHODS)
def test_a_reranker_built_with_no_arguments_is_the_one_the_api_serves(built_slice, cross_encoder_model,
                                                                      method: str) -> None:
    """Same model, adapter and options as ``/v1/rerank`` uses for the method (``shared_reranker``)."""
    if method == "cross-encoder" and not any_cross_encoder():
        pytest.skip("no cross-encoder ships or was trained into the data dir")
    served = shared_reranker(method, collection="slice" if method_spec(method).index_kinds else None)
    assert _no_argument_reranker(method).to_dict() == served.to_dict()


def test_a_no_argument_pointwise_reranker_runs_the_shipped_adapter_and_ranks_as_the_api(built_slice) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from rerankers.pointwise import PointwiseReranker

    adapter = default_adapter("pointwise", MODEL)
    reranker = PointwiseReranker()
    assert adapter is not None and reranker.model == f"{MODEL}+{adapter.name}"
    assert reranker.passage_words == adapter.training["passage_words"]
    assert reranker.first_stage_weight == adapter.training["serving_defaults"]["first_stage_weight"]
    pipeline = Pipeline()
    pipeline.add_component("retriever", SiftragRetriever("slice", "bm25", top_k=8))
    pipeline.add_component("reranker", reranker)
    pipeline.connect("retriever.documents", "reranker.documents")
    ranked = pipeline.run({"query": QUERY})["reranker"]["documents"]
    api = TestClient(create_app(), base_url="http://localhost").post("/v1/rerank", json={
        "query": QUERY, "method": "pointwise", "collection": "slice", "candidates": 8, "top_k": 10})
    assert api.status_code == 200 and api.json()["meta"]["model"] == reranker.model
    assert [d["id"] for d in api.json()["documents"]] == [d.id for d in ranked]


def test_generators_compressors_and_retrievers_built_with_no_arguments_are_the_apis(built_slice) -> None:
    from api.routers.answer import _pipeline
    from api.schemas import AnswerRequest
    from rag.answer_generator import AnswerGenerator
    from rag.compressors.registry import COMPONENTS, compressor
    from rag.hybrid import HybridRetriever
    from rag.retrieval import shared_retriever

    served = _pipeline(AnswerRequest(collection="slice", question=QUERY)).generator
    assert AnswerGenerator().to_dict() == served.to_dict() and served.model.endswith("+reader-general")
    for name, path in COMPONENTS.items():
        assert import_class(path)().to_dict() == compressor(name).to_dict()
    assert SiftragRetriever("slice").to_dict() == shared_retriever("bm25", "slice").to_dict()
    assert HybridRetriever("slice").to_dict() == shared_retriever("hybrid", "slice").to_dict()
