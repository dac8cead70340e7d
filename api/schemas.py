"""Request and response models of the REST API."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from api.deadline import DeadlineMs
from api.model_names import LLM, LLM_NAMES, check_option_models, check_rerank_model
from api.valid_text import ValidText
from core.adapters import ADAPTER_NAME
from core.errors import InvalidInputError, ModelUnavailableError
from core.model_registry import resolve_model
from evals.pipelines import split_options
from rag.answer_formats import ANSWER_FORMATS, DEFAULT_FORMAT, DEFAULT_MAX_NEW_TOKENS
from rag.compressors.registry import COMPRESSORS
from rag.dynamic.methods import DYNAMIC_METHODS, PARAMETRIC, POLICIES
from rag.retrieval import RETRIEVERS
from rerankers.registry import METHODS, served_methods
from workers.job_model import Job


def known_model(model: str | None, field: str = "model") -> str | None:
    """A request's LLM: the registry's causal LMs, trained adapters, BASE+ADAPTER, or the operator's allow-list."""
    if model is not None:
        LLM.check(model, field)
    return model


def _installed(name: str) -> bool:
    try:
        return resolve_model(name).is_local
    except ModelUnavailableError:
        return False


SERVED_LLMS = [name for name in LLM_NAMES if _installed(name)] or LLM_NAMES  # what the schema offers
RequestModel = Annotated[str | SkipJsonSchema[None], AfterValidator(known_model),
                         Field(json_schema_extra={"enum": SERVED_LLMS})]
RerankModel = Annotated[str | SkipJsonSchema[None], AfterValidator(lambda model: known_model(model, "rerank_model")),
                        Field(json_schema_extra={"enum": SERVED_LLMS})]


def translator_name(name: str) -> str:
    """A translator named by a request: a simple name, looked up in the data dir and the shipped models only."""
    if not ADAPTER_NAME.fullmatch(name):
        raise ValueError("translator must be a name (letters, digits, '.', '_', '-'; at most 100), not a path")
    return name


TranslatorName = Annotated[str, AfterValidator(translator_name),
                          Field(json_schema_extra={"pattern": f"^{ADAPTER_NAME.pattern}$"})]
RerankMethod = Annotated[str, Field(json_schema_extra={"enum": served_methods()})]  # checked by the registry
Text = Annotated[str, Field(json_schema_extra={"minLength": 1, "pattern": r"\S"})]  # checked with a sentence
Retriever = Literal[RETRIEVERS]


class Strict(ValidText):
    """Request bodies: unknown fields are an error, not silently ignored; strings must be valid Unicode."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every error response: one sentence for the user."""

    detail: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description} for status, description in {
        400: "Malformed request", 401: "Missing or unknown API key", 403: "Key lacks the role or collection, or a "
        "cross-site request", 404: "Unknown collection, job, index kind, dataset or trained model", 409: "Conflict with existing "
        "state", 413: "A limit was exceeded", 415: "Body is not JSON", 422: "Invalid field", 503: "Overloaded "
        "(Retry-After) or a model is unavailable"}.items()}


def _not_a_boolean(value: Any) -> Any:
    """JSON ``true``/``false`` are not numbers (pydantic's lax mode would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


NotBoolean = BeforeValidator(_not_a_boolean)


class DocumentOut(BaseModel):
    id: str
    content: str
    meta: dict[str, Any] = Field(default_factory=dict)
    score: Annotated[float | None, NotBoolean] = None
    first_stage_rank: Annotated[int | None, NotBoolean] = Field(
        default=None, description="reranked results: the rank (1-based) the first stage gave this document")
    first_stage_score: Annotated[float | None, NotBoolean] = Field(
        default=None, description="reranked results: the first stage's score (null when it gave none, e.g. inline "
        "documents without scores)")


class CollectionCreate(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = Field(default="", max_length=1000)


class CollectionOut(BaseModel):
    name: str
    documents: int
    revision: int
    indexes: dict[str, Any]
    tuned_models: dict[str, Any] = Field(default_factory=dict, description="per kind, the model tuned for this "
                                         "collection (`siftrag tune`): live version and training record")


class DocumentIds(Strict):
    ids: list[str] = Field(min_length=1)


class BuildRequest(Strict):
    options: dict[str, Any] = Field(default_factory=dict, description="e.g. {'index_type': 'hnsw'} for dense")


class SearchRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [{"required": ["query"]},
                                                                           {"required": ["queries"]}]})

    collection: str = Field(min_length=1)
    query: Text | SkipJsonSchema[None] = Field(default=None, description="one query, or use `queries`")
    queries: Annotated[list[Text], Field(min_length=1)] | SkipJsonSchema[None] = Field(
        default=None, description="a batch of queries")
    retriever: Retriever = "bm25"
    top_k: int = Field(default=10, ge=1, strict=True)
    filters: dict[str, Any] | None = Field(default=None, description="Haystack filter syntax over meta")
    rerank: RerankMethod | SkipJsonSchema[None] = Field(default=None, description="rerank method applied to the first `candidates` "
                                                                  "hits")
    candidates: int = Field(default=20, ge=1, description="first-stage depth when `rerank` is set")
    deadline_ms: DeadlineMs | SkipJsonSchema[None] = Field(
        default=None, description="answer by then (or the X-Deadline-Ms header): when reranking has not finished, "
        "the first-stage order with partial: true, and the reranking stops")

    @model_validator(mode="after")
    def one_of_query_or_queries(self) -> "SearchRequest":
        if (self.query is None) == (self.queries is None):
            raise ValueError("give exactly one of 'query' or 'queries'")
        for text in self.all_queries():
            if not text.strip():
                raise ValueError("queries must be non-empty strings")
        return self

    def all_queries(self) -> list[str]:
        return [self.query] if self.query is not None else list(self.queries or [])


class QueryResult(BaseModel):
    query: str
    documents: list[DocumentOut]


class SearchResponse(BaseModel):
    retriever: str
    results: list[QueryResult]
    timings_ms: dict[str, float]
    rerank: dict[str, Any] | None = None


class RerankRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [{"required": ["documents"]},
                                                                           {"required": ["collection"]}]})

    query: Text
    method: RerankMethod = Field(default="embedding", description=" | ".join(METHODS) + " (default: embedding, "
                                 "MiniLM cosine fused with the first stage, the fast method measured above BM25)")
    model: RequestModel = Field(default=None, description="LLM or BASE+ADAPTER (default: the method's shipped "
                                                           "adapter, else the settings' LLM)")
    passage_words: int | None = Field(default=None, ge=1, le=2000, strict=True)
    top_k: int = Field(default=10, ge=1, strict=True)
    documents: Annotated[list[DocumentOut], Field(json_schema_extra={"minItems": 1})] | SkipJsonSchema[None] = Field(
        default=None, description="candidates given inline")
    collection: str | SkipJsonSchema[None] = Field(default=None, description="or take candidates from this "
                                                                             "collection")
    retriever: Retriever = "bm25"
    candidates: int = Field(default=50, ge=1)
    deadline_ms: DeadlineMs | SkipJsonSchema[None] = Field(
        default=None, description="answer by then (or the X-Deadline-Ms header): when reranking has not finished, "
        "the first-stage order with partial: true, and the reranking stops")

    @model_validator(mode="after")
    def documents_or_collection(self) -> "RerankRequest":
        if (self.documents is None) == (self.collection is None):
            raise ValueError("give exactly one of 'documents' or 'collection'")
        if self.documents == []:
            raise ValueError("No candidate documents to rerank: 'documents' is empty")
        if not self.query.strip():
            raise ValueError("query must be a non-empty string")
        check_rerank_model(self.method, self.model, "model")
        return self


class RerankResponse(BaseModel):
    method: str
    documents: list[DocumentOut]
    meta: dict[str, Any]
    timings_ms: dict[str, float]
    partial: bool = Field(default=False, description="the deadline passed before reranking finished: the documents "
                          "are in their first-stage order")


class EvaluationRequest(Strict):
    """The engine's ``EvaluationSpec`` as a request (the same names, with limits)."""

    dataset: str = Field(description="server-side path of a BEIR folder")
    pipelines: list[str] = Field(default_factory=lambda: ["bm25"], min_length=1, max_length=16,
                                 description="retrievers, optionally reranked: bm25, dense, hybrid, bm25>icr, …")
    candidates: int = Field(default=100, ge=1, le=1000, description="first-stage depth for reranking pipelines")
    split: str = Field(default="test", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    top_k: int = Field(default=100, ge=1, le=1000, strict=True)
    max_queries: int | None = Field(default=None, ge=1)
    chunk_queries: int = Field(default=25, ge=1, le=10000, description="queries per worker task")
    rerank_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="passed to the reranker, e.g. {'model': 'qwen2.5-coder-0.5b-instruct', "
                                          "'passage_words': 100, 'window': 20}")
    baseline: str | None = Field(default=None, description="pipeline the others are tested against "
                                                           "(default: the first)")
    keep_identical_ids: bool = Field(default=False, description="keep a retrieved document whose id is the query "
                                                                "id (BEIR ignores it)")

    @field_validator("pipelines")
    @classmethod
    def pipeline_models_known(cls, pipelines: list[str]) -> list[str]:
        """Per-pipeline rerank options ("bm25>first:model=NAME") name models as ``rerank_options`` does."""
        for pipeline in pipelines:
            try:
                options = split_options(pipeline)[1]
            except InvalidInputError as error:
                raise ValueError(str(error)) from None
            check_option_models(options, f"pipeline '{pipeline}' option")
        return pipelines

    @field_validator("rerank_options")
    @classmethod
    def registry_models_only(cls, options: dict[str, Any]) -> dict[str, Any]:
        """A request names models from the registry only (paths and hub ids are server settings) and never the
        collection (the evaluation sets it to the dataset's)."""
        check_option_models(options, "rerank_options")
        if "collection" in options:
            raise ValueError("rerank_options.collection is not a request field (the dataset's collection is used)")
        return options


class JobList(BaseModel):
    jobs: list[Job]


Compressor = Literal[COMPRESSORS]
AnswerFormatName = Annotated[str, Field(json_schema_extra={"enum": list(ANSWER_FORMATS)})]  # checked with a sentence
Dynamic = Literal[DYNAMIC_METHODS]


class AnswerRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": [
        {"if": {"required": ["dynamic"]}, "then": {"not": {"anyOf": [{"required": ["rerank"]},
                                                                     {"required": ["compressor"]}]}}},
        {"if": {"required": ["translator"]}, "then": {"required": ["dynamic"], "properties": {
            "dynamic": {"enum": list(PARAMETRIC)}}}}]})

    collection: str = Field(min_length=1)
    question: Text = Field(description="the question to answer")
    retriever: Retriever = "bm25"
    top_k: int = Field(default=5, ge=0, le=100, strict=True,
                       description="passages in the context; 0 answers without retrieval")
    rerank: RerankMethod | SkipJsonSchema[None] = Field(default=None, description="rerank method applied to the first `candidates` "
                                                                  "hits")
    candidates: int = Field(default=20, ge=1)
    compressor: Compressor | SkipJsonSchema[None] = None
    compressor_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="e.g. {'ratio': 0.5} (tcra-*) or {'max_clusters': 3} (crag); "
        "'model' (the compressor's LLM, default `model`) and 'embedding_model' name models as `model` does")
    model: RequestModel = Field(default=None, description="LLM or BASE+ADAPTER; default from settings")
    rerank_model: RerankModel = Field(default=None, description="the LLM (or BASE+ADAPTER) of an LLM `rerank` "
                                      "method; default: the method's shipped adapter, else the settings' LLM")

    max_new_tokens: int = Field(default=DEFAULT_MAX_NEW_TOKENS, ge=1, le=2048)
    answer_format: AnswerFormatName = Field(default=DEFAULT_FORMAT, description="short: brief reasoning ending in \"So "
                                            "the answer is: X\" (answer = X); yes-no: the same with X yes or no; "
                                            "free: the answer in a few words, then its citations")
    passage_words: Annotated[int, Field(ge=1, le=1000)] | SkipJsonSchema[None] = Field(
        default=None, description="cut each passage in the prompt to its first N words")
    min_passages: int = Field(default=0, ge=0, le=100, description="fail with 422 when fewer passages are found "
                                                                   "(instead of answering from fewer)")
    repetition_penalty: float = Field(default=1.0, ge=1.0, le=2.0, description="> 1 discourages repeating tokens")
    dynamic: Dynamic | SkipJsonSchema[None] = Field(default=None, description="decide while writing when to retrieve (top_k "
                                    f"passages each time): {', '.join(POLICIES)}; or turn the top_k passages into "
                                    f"LoRA weights for this request: {', '.join(PARAMETRIC)} (-combine: the passages "
                                    "in the prompt too, not only the question)")
    translator: TranslatorName | SkipJsonSchema[None] = Field(
        default=None, description="DyPRAG translator name (default 'dyprag'), trained with `siftrag train dyprag`")
    deadline_ms: DeadlineMs | SkipJsonSchema[None] = Field(
        default=None, description="answer by then (or the X-Deadline-Ms header): when the answer is not written "
        "by then, a 504 and the work stops")

    @field_validator("compressor_options")
    @classmethod
    def compressor_models_known(cls, options: dict[str, Any]) -> dict[str, Any]:
        check_option_models(options, "compressor_options", {"model": LLM})
        return options

    @model_validator(mode="after")
    def question_has_text(self) -> "AnswerRequest":
        if not self.question.strip():
            raise ValueError("question must contain text")
        if self.dynamic and (self.compressor or self.rerank):
            raise ValueError("dynamic retrieval does not combine with rerank or compressor")
        if self.rerank_model is not None and not self.rerank:
            raise ValueError("rerank_model applies only with rerank")
        check_rerank_model(self.rerank, self.rerank_model, "rerank_model")
        if self.translator and self.dynamic not in PARAMETRIC:
            raise ValueError(f"translator applies to dynamic {' or '.join(map(repr, PARAMETRIC))} only")
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(f"answer_format must be one of {', '.join(ANSWER_FORMATS)}")
        if self.min_passages > self.top_k:
            raise ValueError("min_passages must not exceed top_k")
        if self.dynamic and self.min_passages:
            raise ValueError("min_passages applies to answers without dynamic retrieval")
        if self.dynamic and self.answer_format == "free":
            raise ValueError("dynamic retrieval answers in the 'short' or 'yes-no' format")
        return self


class AnswerStreamRequest(AnswerRequest):
    """``/v1/answer/stream`` takes what ``/v1/answer`` takes except dynamic retrieval (not streamed)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={})

    dynamic: SkipJsonSchema[str | None] = None
    translator: SkipJsonSchema[str | None] = None
    deadline_ms: SkipJsonSchema[int | None] = None

    @model_validator(mode="after")
    def not_dynamic(self) -> "AnswerStreamRequest":
        if self.dynamic or self.translator:
            raise ValueError("Dynamic retrieval answers are not streamed: use POST /v1/answer.")
        if self.deadline_ms is not None:
            raise ValueError("deadline_ms applies to POST /v1/answer: a stream stops when its client disconnects.")
        return self


class SourceCitation(BaseModel):
    """Where a chunk of an ingested file comes from (``POST /v1/collections/{name}/files``)."""

    id: str = Field(description="the source's id (GET/DELETE /v1/collections/{name}/sources)")
    name: str | None = Field(default=None, description="the file's name as uploaded (base name)")
    page: int | None = Field(default=None, description="1-based page (PDF); null where the format has no pages")
    start: int | None = Field(default=None, description="offset of the chunk's first character in the page's text")
    end: int | None = Field(default=None, description="offset after its last character")


class PassageOut(BaseModel):
    n: int
    id: str
    title: str | None = None
    content: str
    source_ids: list[str]
    score: float | None = None
    source: SourceCitation | None = Field(default=None, description="the file, page and span of a chunk of an "
                                          "ingested file; null for documents ingested as JSON")


class AnswerResponse(BaseModel):
    answer: str = Field(description="the answer (short/yes-no: the X of \"So the answer is: X\")")
    output: str = Field(description="everything the model wrote, cut where the answer ended")
    finish_reason: Literal["stop", "length", "cancelled"] = Field(
        description="stop: the answer ended; length: max_new_tokens was reached first")
    citations: list[PassageOut]
    unknown_citations: list[int] = Field(default_factory=list, description="bracketed numbers in the output that "
                                                                           "name no passage given")
    passages: list[PassageOut]
    compression: dict[str, Any] | None = None
    rerank: dict[str, Any] | None = Field(default=None, description="the reranker's meta (its model, calls, "
                                          "latency) when `rerank` is set")
    timings_ms: dict[str, float]
    tokens: dict[str, int]
    engine: str | None = Field(default=None, description="what generated the output: llama.cpp or transformers "
                               "(SIFTRAG_LLM_ENGINE; several joined by +)")
    dynamic: dict[str, Any] | None = Field(default=None, description="queries, retrieval and LM calls")
    decision: dict[str, Any] | None = Field(default=None, description="yes-no answers decided by a trained yes/no "
                                                                      "head: its name and P(yes) (not streamed)")
